use clap::Parser;

fn main() {
    let cli = kit_run::Cli::parse();
    let code = match kit_run::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kit-run: {}", kit_db::cli::describe(&e));
            // kit-run's own failures exit 125, never a code the task returns.
            kit_run::OWN_FAILURE
        }
    };
    std::process::exit(code);
}
