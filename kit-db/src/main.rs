use clap::Parser;

fn main() {
    let cli = kit_db::dbtool::Cli::parse();
    kit_db::cli::exit_with("kit-db", kit_db::dbtool::run(cli));
}
