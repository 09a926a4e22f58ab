//! `dockyard`: the command line. Thin glue: it reads the environment and the
//! flags, builds the config, and calls into the server and services crates.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use dockyard_domain::Scope;
use dockyard_server::{AppState, Config, Server, telemetry};
use dockyard_services::{Bus, InProcessBus, Keyring, PostgresBus, RequestContext, Services};
use dockyard_store::{Dialect, Store};

mod deploy_cmd;
mod remote;

/// mimalloc instead of glibc's allocator: the request path allocates many small
/// objects (rows, headers, JSON), and the foundation benchmark showed malloc and
/// free as the top entries of the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "dockyard", version, about = "Dockyard: a self-hosted developer cloud in one binary")]
struct Cli {
    /// A TOML config file (also DOCKYARD_CONFIG).
    #[arg(long, global = true, env = "DOCKYARD_CONFIG")]
    config: Option<PathBuf>,
    /// Overrides `data_dir` (also DOCKYARD_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the API, the web app and the background workers.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the secrets store.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Write a consistent backup of the database and the data dir (safe while `serve` runs).
    Backup {
        /// The `.tar.gz` to write.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Restore a backup made by `dockyard backup`. Stop `serve` first.
    Restore {
        /// The `.tar.gz` to read.
        #[arg(long, short)]
        input: PathBuf,
        /// Replace the current contents of a non-empty database.
        #[arg(long)]
        force: bool,
    },
    /// Show how Dockyard would build a folder: the Dockerfile it found, or the
    /// detected stack and the Dockerfile it would generate.
    Plan {
        /// The source folder (default: the current folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// A Dockerfile at a custom path, relative to the folder.
        #[arg(long)]
        dockerfile: Option<String>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deploy a local folder to a service on a Dockyard server: upload it, show
    /// the build, end with the URL (DOCKYARD_URL and DOCKYARD_TOKEN say where and who).
    Deploy(deploy_cmd::DeployArgs),
    /// Print a service's logs (--follow to keep following), or a deployment's build log.
    Logs(deploy_cmd::LogsArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Print the version.
    Version,
}

#[derive(Args)]
struct ServeArgs {
    /// Overrides `listen`, e.g. 127.0.0.1:0 for a free port.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Print the effective config (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read the password from standard input (required: passwords never come from argv).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        instance_admin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Grant (or with --revoke, take away) the instance-admin flag.
    SetAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Set a new password from standard input and sign the user out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "read", value_parser = ["read", "write", "admin"])]
        scope: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-seal every secret under the current key (`secrets.key` or the key file),
    /// so the keys in `secrets.previous_keys` can be retired. Safe while `serve` runs.
    Rotate,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Blocking work that outlived `serve`'s grace period (a job's blocking part)
    // must not hold the exit up; its job keeps its lease and is retried.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `dockyard plan`: stack detection on a local folder, with the configured base images.
fn plan(cli: &Cli, dir: &std::path::Path, dockerfile: Option<String>, json: bool) -> anyhow::Result<()> {
    use dockyard_runtime::plan::{PlanOptions, StaticServer, detect};
    let config = load_config(cli)?;
    let options = PlanOptions {
        dockerfile_path: dockerfile,
        images: config.deploy.images.to_base_images(),
        extra_ca_bundle: config.deploy.extra_ca_file.is_some(),
        static_server: StaticServer::default(),
    };
    let plan = detect(dir, &options).map_err(|error| anyhow::anyhow!("{}: {error}", dir.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    println!("stack: {}", serde_json::to_string(&plan.stack)?);
    if let Some(port) = plan.port_hint {
        println!("port: {port}");
    }
    if let Some(command) = &plan.build_command {
        println!("build: {command}");
    }
    if let Some(command) = &plan.start_command {
        println!("start: {command}");
    }
    for note in &plan.notes {
        println!("note: {note}");
    }
    match &plan.dockerfile {
        dockyard_runtime::Dockerfile::Path(path) => println!("dockerfile: {path}"),
        dockyard_runtime::Dockerfile::Inline(text) => println!("dockerfile (generated):\n{text}"),
    }
    Ok(())
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (mut config, report) = Config::load(cli.config.as_deref(), &env)?;
    if let Some(data_dir) = &cli.data_dir {
        config.data_dir = data_dir.clone();
    }
    for warning in report.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(config)
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let store = Store::connect(config.effective_database_url().expose(), &config.pool())
        .await
        .with_context(|| format!("cannot open the database {}", config.effective_database_url().redacted()))?;
    store.migrate().await?;
    Ok(store)
}

/// Loads the secrets keyring from the config (creating the key file on first use).
fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    Ok(Keyring::load(&config.key_source())?)
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the password from standard input")?;
    let password = input.strip_suffix('\n').map(|rest| rest.strip_suffix('\r').unwrap_or(rest)).unwrap_or(&input);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password.to_owned())
}

fn shell_context() -> RequestContext {
    RequestContext { ip: None, user_agent: Some("dockyard-cli".into()) }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Version => {
            println!("dockyard {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Openapi => {
            println!("{}", dockyard_server::openapi_json());
            Ok(())
        }
        Command::Plan { dir, dockerfile, json } => plan(&cli, dir, dockerfile.clone(), *json),
        Command::Deploy(args) => deploy_cmd::deploy(args).await,
        Command::Logs(args) => deploy_cmd::logs(args).await,
        Command::Serve(args) => serve(&cli, args).await,
        Command::Migrate => {
            let config = load_config(&cli)?;
            let store = open_store(&config).await?;
            println!("database migrated to version {}", store.applied_migration().await?.unwrap_or(0));
            Ok(())
        }
        Command::User(command) => {
            let config = load_config(&cli)?;
            let services = Services::new(open_store(&config).await?, config.services());
            user_command(&services, command).await
        }
        Command::Token(TokenCommand::Create { email, name, scope, expires_in_days }) => {
            let config = load_config(&cli)?;
            let services = Services::new(open_store(&config).await?, config.services());
            let user = services.find_user(email).await.map_err(|_| anyhow::anyhow!("no user with e-mail {email}"))?;
            let scope: Scope = scope.parse().map_err(|_| anyhow::anyhow!("unknown scope {scope}"))?;
            let created =
                services.create_token(None, &user.id, name, scope, *expires_in_days, &shell_context()).await?;
            eprintln!(
                "created token {} ({}) for {}; it is shown only now:",
                created.token.id,
                scope.as_str(),
                user.email
            );
            println!("{}", created.secret);
            Ok(())
        }
        Command::Secrets(SecretsCommand::Rotate) => {
            let config = load_config(&cli)?;
            let store = open_store(&config).await?;
            let keyring = keyring(&config)?;
            let current = keyring.current_id().clone();
            let services =
                Services::with_infrastructure(store, config.services(), Arc::new(InProcessBus::new()), keyring);
            let report = services.rotate_secrets().await?;
            println!(
                "secrets under key {current}: {} re-sealed, {} already current, {} changed meanwhile (already current)",
                report.resealed, report.current, report.raced
            );
            for (id, scope, name, key) in &report.unknown_key {
                eprintln!(
                    "left as is: secret {name} ({id}) of {scope} is sealed with key {key}, which is not configured"
                );
            }
            for (id, scope, name) in &report.undecryptable {
                eprintln!("left as is: secret {name} ({id}) of {scope} does not authenticate under its key");
            }
            let left = report.unknown_key.len() + report.undecryptable.len();
            if left > 0 {
                bail!(
                    "{left} secrets could not be re-sealed; add their keys to secrets.previous_keys and run again, \
                     and keep the old keys until then"
                );
            }
            Ok(())
        }
        Command::Backup { output } => {
            let config = load_config(&cli)?;
            let store = open_store(&config).await?;
            let summary = dockyard_services::backup::create_backup(&store, &config.data_dir, output).await?;
            let rows: u64 = summary.database.tables.iter().map(|table| table.rows).sum();
            println!(
                "backup written to {}: {rows} rows in {} tables, {} files ({} bytes)",
                output.display(),
                summary.database.tables.len(),
                summary.files,
                summary.file_bytes
            );
            Ok(())
        }
        Command::Restore { input, force } => {
            let config = load_config(&cli)?;
            let store = open_store(&config).await?;
            let summary = dockyard_services::backup::restore_backup(&store, &config.data_dir, input, *force).await?;
            let rows: u64 = summary.database.tables.iter().map(|table| table.rows).sum();
            println!("restored {rows} rows and {} files from {}", summary.files, input.display());
            Ok(())
        }
    }
}

async fn user_command(services: &Services, command: &UserCommand) -> anyhow::Result<()> {
    let context = shell_context();
    match command {
        UserCommand::Create { email, name, password_stdin: _, instance_admin } => {
            let password = read_password()?;
            let user = services.create_user(email, name, &password, *instance_admin, &context).await?;
            println!(
                "created user {} <{}>{}",
                user.id,
                user.email,
                if user.instance_admin { " (instance admin)" } else { "" }
            );
        }
        UserCommand::List { json } => {
            let users = services.list_users(None).await?;
            if *json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|user| {
                        serde_json::json!({ "id": user.id, "email": user.email, "name": user.name,
                            "instance_admin": user.instance_admin, "created_at": user.created_at })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<26}  {:<32}  {:<24}  ADMIN", "ID", "EMAIL", "NAME");
                for user in users {
                    println!(
                        "{:<26}  {:<32}  {:<24}  {}",
                        user.id,
                        user.email,
                        user.name,
                        if user.instance_admin { "yes" } else { "" }
                    );
                }
            }
        }
        UserCommand::SetAdmin { email, revoke } => {
            let user = services.find_user(email).await.map_err(|_| anyhow::anyhow!("no user with e-mail {email}"))?;
            let user = services.set_instance_admin(None, &user.id, !revoke, &context).await?;
            println!("{} is {}an instance admin", user.email, if user.instance_admin { "now " } else { "no longer " });
        }
        UserCommand::ResetPassword { email, password_stdin: _ } => {
            let password = read_password()?;
            let revoked = services.reset_password(email, &password, &context).await?;
            println!("password of {email} reset; {revoked} sessions signed out");
        }
    }
    Ok(())
}

async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(cli)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.print_config {
        print!("{}", config.to_redacted_toml());
        return Ok(());
    }
    // Held to the end, so that lines still queued are written out.
    let _log_writer = telemetry::init_logging(config.log_format, &config.log_level);
    let metrics = if config.metrics.enabled { telemetry::init_metrics() } else { None };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let keyring = keyring(&config)?;
    // Lazy: the server starts (and answers /readyz with 503) while the database is down.
    let store = Store::connect_lazy(config.effective_database_url().expose(), &config.pool())?;
    // Replicas sharing a PostgreSQL database hear each other through it.
    let bus: Arc<dyn Bus> = match store.dialect() {
        Dialect::Postgres => Arc::new(PostgresBus::start(config.effective_database_url().expose())),
        Dialect::Sqlite => Arc::new(InProcessBus::new()),
    };
    let services = Services::with_infrastructure(store.clone(), config.services(), bus, keyring);
    let state = AppState::new(config, services, metrics);
    // Install the signal handlers before anything is printed, so a SIGTERM that
    // follows the ready line at once still shuts down gracefully.
    let shutdown = dockyard_server::shutdown_signal();
    let server = Server::bind(state).await.context("cannot bind the listener")?;
    let url = server.url();
    println!("Dockyard is listening on {}", server.bound_url());
    if url != server.bound_url() {
        println!("Open {url}");
    }
    if let Some(address) = server.metrics_addr() {
        println!("Metrics are served on http://{address}/metrics");
    }
    if let Ok(address) = server.proxy_addr() {
        println!("Deployed services are served on http://{address}");
    }
    let setup_url = url.clone();
    server
        .run(shutdown, move |setup_token| {
            if let Some(token) = setup_token {
                println!("Setup token: {token}");
                println!(
                    "Create the first admin account with POST {setup_url}/api/v1/setup {{token,email,name,password}},"
                );
                println!("or run `dockyard user create --instance-admin --password-stdin --email … --name …`.");
            }
            println!("Dockyard is ready");
        })
        .await?;
    store.close().await;
    // The last line: the log writer's guard writes it out as `serve` returns.
    tracing::info!("stopped");
    Ok(())
}
