use clap::Parser as _;

fn main() {
    let cli = notes_gen::Cli::parse();
    std::process::exit(notes_gen::run(cli, &relkit_core::actions::ProcessEnv));
}
