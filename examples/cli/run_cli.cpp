#include "run_cli.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <caf/settings.hpp>
#include <fmt/format.h>

#include "cli_args.hpp"
#include "entangle/all.hpp"
#include "entangle/trace_recorder.hpp"
#include "progress_line.hpp"
#include "topologies/topology.hpp"

namespace entangle::examples {

namespace {

constexpr int exit_usage = 2;

/// entangle-run's options: CAF's configuration (so --help, INI files via
/// --config-file and --scheduler.* work), plus ours in the global group.
struct run_config : runtime_config {
  std::string topology;
  bool list = false;
  std::size_t size = 0;
  std::size_t messages = 0;
  std::size_t payload = 0;
  std::size_t threads = 0;
  std::size_t timeout = 60;
  bool quiet = false;
  std::string trace;
  std::string graph;
  std::string sequence;
  std::size_t trace_max_events = trace_limits{}.max_events;
  std::size_t sequence_max = trace_limits{}.max_sequence_messages;
  std::int64_t listen = -1;
  std::string connect;

  /// CAF 0.17 keeps keys of an INI file that name no option without a
  /// word (a typo like `sizee=8` would be ignored). Returns the first such
  /// key of ours: in [global] or [entangle].
  std::string unknown_ini_key() const {
    for (auto& [key, val] : content) {
      if (key == "config-file")
        continue;
      if (auto* group = caf::get_if<caf::settings>(&val)) {
        if (key != "entangle")
          continue; // CAF's own sections: CAF checks what it reads
        for (auto& [sub, x] : *group)
          if (custom_options_.qualified_name_lookup("entangle." + sub)
              == nullptr)
            return "entangle." + sub;
      } else if (custom_options_.qualified_name_lookup("global." + key)
                 == nullptr) {
        return key;
      }
    }
    return {};
  }

  run_config() {
    opt_group{custom_options_, "global"}
      .add(topology, "topology,t", "the topology to run (or the first "
                                   "word); see --list")
      .add(list, "list,l", "list the topologies and exit")
      .add(size, "size,n", "contexts, stages, workers or clients, by "
                           "topology (0: its default)")
      .add(messages, "messages,m", "messages to send (0: the topology's "
                                   "default)")
      .add(payload, "payload,p", "extra bytes per message")
      .add(threads, "threads", "CAF scheduler threads (0: CAF's default; "
                               "same as --scheduler.max-threads)")
      .add(timeout, "timeout", "seconds before the run counts as failed "
                               "(default 60)")
      .add(quiet, "quiet,q", "no story lines, only the summary")
      .add(trace, "trace", "write a Chrome trace (Perfetto) JSON file")
      .add(graph, "graph", "write the topology as a Graphviz DOT file")
      .add(sequence, "sequence", "write a Mermaid sequence diagram")
      .add(trace_max_events, "trace-max-events",
           "events kept in the trace (later ones are counted; default "
           "100000)")
      .add(sequence_max, "sequence-max",
           "message arrows in the sequence diagram (default 100)")
      .add(listen, "listen",
           "topologies across processes: serve this role on 127.0.0.1:PORT "
           "(0: any free port, printed) until stdin closes")
      .add(connect, "connect",
           "topologies across processes: run the client role against this "
           "entangle://HOST:PORT/NAME");
  }

  const caf::config_option_set& options() const {
    return custom_options_;
  }
};

void print_list(std::FILE* to) {
  fmt::print(to, "Topologies (entangle-run NAME [options]):\n");
  for (auto& t : topologies())
    fmt::print(to, "  {:<18} {}\n", t.name, t.description);
}

/// After CAF's help text: what the topologies do with the knobs.
void print_help_topologies(const char* fixed) {
  fmt::print("\n{}:\n", fixed ? "This program runs" : "Topologies");
  for (auto& t : topologies()) {
    if (fixed && std::string_view{t.name} != fixed)
      continue;
    fmt::print("  {:<18} {}\n  {:<18} {} (defaults: size {}, messages "
               "{})\n",
               t.name, t.description, "", t.knobs, t.default_size,
               t.default_messages);
  }
}

/// The program's name in messages (entangle-run, or a one-topology
/// example program).
std::string program_name = "entangle-run";

/// Marks a usage error about the topology (the list of them helps).
struct topology_error_t {};
constexpr topology_error_t topology_error{};

/// A usage error: the message, then what would help (the option's own line
/// from --help, when an option is at fault).
int usage_error(const std::string& what,
                const caf::config_option* opt = nullptr) {
  fmt::print(stderr, "{}: error: {}\n", program_name, what);
  if (opt != nullptr)
    fmt::print(stderr, "  --{}{}  {}\n", sv(opt->long_name()),
               opt->is_flag() ? "" : " " + value_placeholder(*opt),
               sv(opt->description()));
  fmt::print(stderr, "({} --help for every option)\n", program_name);
  return exit_usage;
}

/// A usage error about the topology: the message and the topologies.
int usage_error(const std::string& what, topology_error_t) {
  fmt::print(stderr, "{}: error: {}\n", program_name, what);
  print_list(stderr);
  fmt::print(stderr, "({} --help for every option)\n", program_name);
  return exit_usage;
}

/// The option called `name` in the global group (for error hints).
const caf::config_option* option_named(const run_config& cfg,
                                       std::string_view name) {
  return cfg.options().cli_long_name_lookup({name.data(), name.size()});
}

/// Upper bounds that keep a typo from eating the machine.
struct bound {
  const char* name;
  std::size_t value;
  std::size_t max;
};

std::string human_rate(double per_s) {
  if (per_s >= 1e6)
    return fmt::format("{:.2f} M msg/s", per_s / 1e6);
  if (per_s >= 1e3)
    return fmt::format("{:.1f} k msg/s", per_s / 1e3);
  return fmt::format("{:.0f} msg/s", per_s);
}

std::string human_time(double s) {
  return s >= 1 ? fmt::format("{:.2f} s", s) : fmt::format("{:.1f} ms", s * 1e3);
}

void print_summary(const topology& t, const params& p, std::size_t threads,
                   runtime& rt, const outcome& out, double wall,
                   const trace_recorder* rec, const run_config& cfg) {
  auto d = rt.drops();
  auto exits = rt.exits();
  fmt::print("\n{} (size {}, messages {}, payload {} B, {} scheduler "
             "threads)\n",
             t.name, p.size, p.messages, p.payload,
             threads == 0 ? std::string{"CAF default"}
                          : std::to_string(threads));
  auto row = [](const char* k, const std::string& v) {
    fmt::print("  {:<12} {}\n", k, v);
  };
  row("result", fmt::format("{}: {}", out.ok ? "ok" : "FAILED", out.verdict));
  row("contexts", std::to_string(exits.size()));
  row("channels", std::to_string(out.channels));
  row("delivered", fmt::format("{} messages (expected {})", out.delivered,
                               out.expected));
  row("throughput",
      wall > 0 ? human_rate(static_cast<double>(out.delivered) / wall) : "-");
  row("wall time", human_time(wall));
  std::string parts;
  for (std::size_t i = 0; i < drop_reason_count; ++i) {
    auto r = static_cast<drop_reason>(i);
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", to_string(r),
                         d[r]);
  }
  row("drops", fmt::format("{} ({})", d.total(), parts));
  row("ports left", std::to_string(rt.live_ports()));
  if (rec != nullptr) {
    auto tt = rec->totals();
    row("trace",
        fmt::format("{} posts, {} deliveries, {} transfers, {} closes; {} "
                    "events kept, {} over the cap of {}",
                    tt.posts, tt.deliveries, tt.transfers, tt.closes,
                    tt.events_kept, tt.events_dropped, cfg.trace_max_events));
    for (auto* f : {&cfg.trace, &cfg.graph, &cfg.sequence})
      if (!f->empty())
        row("wrote", *f);
  }
}

} // namespace

int run_cli(int argc, char** argv, const char* fixed) {
  run_config cfg;
  if (argc > 0) {
    std::string_view self{argv[0]};
    program_name = std::string{self.substr(self.rfind('/') + 1)};
  }
  // Our own pass first: `--opt value` becomes `--opt=value` (CAF 0.17
  // knows only the latter), the bare word naming the topology comes out
  // (CAF's parser would stop there), and mistakes are told in words.
  auto cli = normalize_args(cfg.options(), argc, argv);
  if (cli.help) {
    print_help(stdout, cfg.options(), program_name, fixed);
    return 0;
  }
  if (!cli.error.empty())
    return cli.about_topology
             ? usage_error(cli.error, topology_error)
             : usage_error(cli.error, cli.option.empty()
                                        ? nullptr
                                        : option_named(cfg, cli.option));
  std::string config_file;
  for (auto& a : cli.args)
    if (a.rfind("--config-file=", 0) == 0)
      config_file = a.substr(14);
  if (auto err = cfg.parse(caf::actor_system_config::string_list{
        cli.args.begin() + 1, cli.args.end()}))
    return usage_error(describe_parse_error(err, config_file));
  if (cfg.cli_helptext_printed) { // --long-help: CAF printed, did not exit
    print_help_topologies(fixed);
    return 0;
  }
  if (auto key = cfg.unknown_ini_key(); !key.empty())
    return usage_error(fmt::format("unknown option '{}' in the config file "
                                   "'{}'",
                                   key, config_file));
  if (!cfg.remainder.empty())
    return usage_error(fmt::format("unexpected argument '{}'",
                                   cfg.remainder.front()));
  auto& positional = cli.positional;
  if (cfg.list) {
    print_list(stdout);
    return 0;
  }
  // Which topology: fixed by the program, the first word, or --topology.
  std::string name = fixed ? fixed : std::string{default_topology};
  if (fixed && !positional.empty())
    return usage_error(fmt::format("unexpected argument '{}' ({} runs one "
                                   "topology)",
                                   positional, fixed),
                       topology_error);
  if (!positional.empty() && !cfg.topology.empty()
      && positional != cfg.topology)
    return usage_error(fmt::format("two topologies given: '{}' and '{}'",
                                   positional, cfg.topology),
                       topology_error);
  if (!positional.empty())
    name = positional;
  else if (!cfg.topology.empty())
    name = cfg.topology;
  if (fixed && name != fixed)
    return usage_error(fmt::format("this program runs {} only; use "
                                   "entangle-run for {}",
                                   fixed, name),
                       topology_error);
  auto* topo = find_topology(name);
  if (topo == nullptr)
    return usage_error(fmt::format("unknown topology '{}'", name),
                       topology_error);

  if (!topo->remote && (cfg.listen >= 0 || !cfg.connect.empty()))
    return usage_error(fmt::format("--listen and --connect are for the "
                                   "topologies across processes, not {}",
                                   topo->name),
                       option_named(cfg, cfg.listen >= 0 ? "listen"
                                                         : "connect"));
  if (cfg.listen > 65535 || cfg.listen < -1)
    return usage_error(fmt::format("--listen {} is not a port (0-65535)",
                                   cfg.listen),
                       option_named(cfg, "listen"));
  if (topo->remote)
    cfg.remote = true;

  params p;
  p.listen = static_cast<long>(cfg.listen);
  p.connect = cfg.connect;
  p.size = cfg.size == 0 ? topo->default_size : cfg.size;
  p.messages = cfg.messages == 0 ? topo->default_messages : cfg.messages;
  p.payload = cfg.payload;
  p.verbose = !cfg.quiet;
  p.timeout = std::chrono::seconds{cfg.timeout};
  for (auto b : {bound{"size", p.size, 10000},
                 bound{"messages", p.messages, 100000000},
                 bound{"payload", p.payload, 16u << 20},
                 bound{"threads", cfg.threads, 256},
                 bound{"timeout", cfg.timeout, 86400}})
    if (b.value > b.max)
      return usage_error(fmt::format("--{} {} is out of range (at most {})",
                                     b.name, b.value, b.max),
                         option_named(cfg, b.name));
  if (cfg.timeout == 0)
    return usage_error("--timeout must be at least 1 (second)",
                       option_named(cfg, "timeout"));
  if (cfg.trace_max_events == 0 && !cfg.trace.empty())
    return usage_error("--trace-max-events must be at least 1",
                       option_named(cfg, "trace-max-events"));
  // Output files: found unwritable now, not after a long run.
  std::vector<std::pair<const char*, const std::string*>> outputs{
    {"trace", &cfg.trace}, {"graph", &cfg.graph}, {"sequence", &cfg.sequence}};
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    auto& [opt, path] = outputs[i];
    if (path->empty())
      continue;
    for (std::size_t j = 0; j < i; ++j)
      if (*outputs[j].second == *path)
        return usage_error(fmt::format("--{} and --{} name the same file "
                                       "'{}'",
                                       outputs[j].first, opt, *path));
    if (auto why = check_writable(opt, *path); !why.empty())
      return usage_error(why, option_named(cfg, opt));
  }
  if (cfg.threads > 0)
    cfg.set("scheduler.max-threads", cfg.threads);
  auto threads = caf::get_or(cfg, "scheduler.max-threads", std::size_t{0});

  std::shared_ptr<trace_recorder> rec;
  if (!cfg.trace.empty() || !cfg.graph.empty() || !cfg.sequence.empty()) {
    if (!tracing_compiled_in())
      return usage_error("--trace/--graph/--sequence need a build with "
                         "tracing (meson configure -Dtracing=true)");
    trace_limits lim;
    lim.max_events = cfg.trace_max_events;
    lim.max_sequence_messages = cfg.sequence_max;
    rec = std::make_shared<trace_recorder>(lim);
    rec->title(fmt::format("entangle-run {}", topo->name));
    cfg.tracer = rec;
  }

  progress prog;
  outcome out;
  double wall = 0;
  runtime rt{cfg};
  {
    progress_line line{topo->name, prog, p.messages};
    auto t0 = std::chrono::steady_clock::now();
    try {
      out = topo->run(rt, p, prog);
    } catch (const std::exception& e) {
      out.ok = false;
      out.verdict = fmt::format("the topology threw: {}", e.what());
    }
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
             .count();
  }
  int code = out.ok ? 0 : 1;
  if (rec) {
    try {
      if (!cfg.trace.empty())
        rec->write_chrome_json(cfg.trace);
      if (!cfg.graph.empty())
        rec->write_dot(cfg.graph);
      if (!cfg.sequence.empty())
        rec->write_mermaid(cfg.sequence);
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: error: {}\n", program_name, e.what());
      code = 1;
    }
  }
  print_summary(*topo, p, threads, rt, out, wall, rec.get(), cfg);
  return code;
}

} // namespace entangle::examples
