fn main() {
    kit_db::cli::exit_with("kit-heal", kit_heal::run());
}
