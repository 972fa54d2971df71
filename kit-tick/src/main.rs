use clap::Parser;

fn main() {
    let cli = kit_tick::Cli::parse();
    kit_db::cli::exit_with("kit-tick", kit_tick::run(cli));
}
