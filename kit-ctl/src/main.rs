use clap::Parser;

fn main() {
    let cli = kit_ctl::Cli::parse();
    kit_db::cli::exit_with("kit-ctl", kit_ctl::run(cli));
}
