use clap::Parser;

fn main() {
    let cli = kit_heal::Cli::parse();
    kit_db::cli::exit_with("kit-heal", kit_heal::run(cli));
}
