# The workerd peer: one echo worker on one HTTP socket (bench/run overrides the address
# with --socket-addr http=127.0.0.1:PORT).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .echoWorker) ],
  sockets = [ ( name = "http", address = "127.0.0.1:8080", http = (), service = "main" ) ],
);

const echoWorker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
);
