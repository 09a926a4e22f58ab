# Shared helpers for the project's scripts. Source it; do not run it.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

# Installs the Debian packages that are missing. Answers non-zero when it cannot.
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "==> installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts the Debian PostgreSQL cluster and makes a `dockyard` role that may create
# databases. Prints the admin URL the tests use on success.
start_postgres() {
  local version port
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  if ! as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null || return 1
  fi
  port=$(as_root pg_conftool "$version" main show port 2>/dev/null | grep -o '[0-9]\+' || echo 5432)
  for _ in $(seq 1 50); do
    as_root su postgres -c "psql -p $port -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
    sleep 0.2
  done
  as_root su postgres -c "psql -p $port -qAtc \"SELECT 1 FROM pg_roles WHERE rolname = 'dockyard'\"" | grep -q 1 \
    || as_root su postgres -c "psql -p $port -qc \"CREATE ROLE dockyard LOGIN CREATEDB PASSWORD 'dockyard'\"" >/dev/null || return 1
  echo "postgres://dockyard:dockyard@127.0.0.1:$port/postgres"
}

# Installs the web app's npm packages (exactly those in package-lock.json) when they
# changed, then builds web/dist: the typed API client, a type check, the Vite build
# and the precompressed .br/.gz copies the binary serves.
build_web() {
  command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js 20+ to build the web app" >&2; return 1; }
  (
    cd web
    if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.dockyard-lock; then
      echo "==> installing the web app's npm packages"
      # `npm install` installs the versions package-lock.json pins. Not `npm ci`: npm
      # 11 here writes lock files without the other platforms' optional packages
      # (rollup's, esbuild's), and `npm ci` then refuses them as out of sync.
      npm install --no-audit --no-fund --loglevel=error
      cp package-lock.json node_modules/.dockyard-lock
    fi
    echo "==> building the web app"
    npm run --silent build
  )
}

# Starts Debian's Docker engine (package docker.io) in the background unless one
# already answers, and waits for it. Answers non-zero when there is none.
start_docker() {
  command -v docker >/dev/null 2>&1 || return 1
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || return 1
  echo "==> starting dockerd (log: /tmp/dockyard-dockerd.log)"
  as_root sh -c 'nohup dockerd >/tmp/dockyard-dockerd.log 2>&1 &' || return 1
  for _ in $(seq 1 100); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  echo "error: dockerd did not answer; see /tmp/dockyard-dockerd.log" >&2
  return 1
}
