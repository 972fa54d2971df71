fn main() {
    kit_db::cli::exit_with("kit-keep", kit_keep::run());
}
