// Command lines: CLI11 with the conventions every shmcp program follows (shmcp, shmcp-executor,
// shmcp-bench, the soak and test drivers), so that they parse and word errors alike:
//   - a usage error prints "PROG: reason", a blank line and the command's help on stderr and
//     exits 2; -h/--help prints the help on stdout and exits 0;
//   - the last of a repeated option wins (repeatable options opt out: repeatable());
//   - an unknown option is reported as "unknown option '--x'", a missing value as "--x needs a
//     value", a bad number as "--x expects a number[ in LO..HI], got 'v'".
// The help texts stay hand-written (aligned columns, defaults, examples): configure() makes
// CLI11 print them verbatim. Header-only; link shmcp_cli (not part of the installed client).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace shmcp::cli {

// A refused value or a missing required argument; its message is shown as is.
using UsageError = CLI::ValidationError;

// A decimal in [lo, hi]. Without a range the message names none.
inline std::uint64_t parse_u64(const std::string& flag, const std::string& v, std::uint64_t lo = 0,
                               std::uint64_t hi = std::numeric_limits<std::uint64_t>::max()) {
  const bool ranged = lo != 0 || hi != std::numeric_limits<std::uint64_t>::max();
  bool ok = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  std::uint64_t x = 0;
  for (std::size_t i = 0; ok && i < v.size(); ++i) {
    const auto d = static_cast<std::uint64_t>(v[i] - '0');
    if (x > (std::numeric_limits<std::uint64_t>::max() - d) / 10) ok = false;
    else x = x * 10 + d;
  }
  if (!ok || x < lo || x > hi) {
    std::string m = flag;
    m.append(" expects a number");
    if (ranged) m.append(" in ").append(std::to_string(lo)).append("..").append(std::to_string(hi));
    m.append(", got '").append(v).append("'");
    throw UsageError(m);
  }
  return x;
}

// The name messages use for an option: its last long (or short) name, with dashes.
inline std::string flag_label(const std::string& names) {
  const auto comma = names.rfind(',');
  return comma == std::string::npos ? names : names.substr(comma + 1);
}

// --name N stored into target as T, checked against [lo, hi] with the wording above.
template <class T>
CLI::Option* number(CLI::App& app, const std::string& names, T& target, std::uint64_t lo = 0,
                    std::uint64_t hi = std::numeric_limits<std::uint64_t>::max()) {
  return app.add_option_function<std::string>(names, [label = flag_label(names), &target, lo, hi](const std::string& v) {
    target = static_cast<T>(parse_u64(label, v, lo, hi));
  });
}

// --name X stored into target: a decimal (fractions allowed) of at least lo.
inline CLI::Option* decimal(CLI::App& app, const std::string& names, double& target,
                            double lo = -std::numeric_limits<double>::infinity()) {
  return app.add_option_function<std::string>(names, [label = flag_label(names), &target, lo](const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x >= lo) || !std::isfinite(x)) {
      std::string m = label;
      m.append(" expects a number");
      if (std::isfinite(lo)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " >= %g", lo);
        m.append(buf);
      }
      m.append(", got '").append(v).append("'");
      throw UsageError(m);
    }
    target = x;
  });
}

// --name VALUE, each occurrence appended to target (one value per occurrence).
inline CLI::Option* repeatable(CLI::App& app, const std::string& names, std::vector<std::string>& target) {
  return app.add_option(names, target)->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// Sets app's conventions (see above) and its help text; subcommands need their own call.
inline void configure(CLI::App& app, const char* help) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.allow_extras();
  // One command per command line: after it, a command's name is an argument like any other.
  app.require_subcommand(0, 1);
  app.formatter_fn([help](const CLI::App*, std::string, CLI::AppFormatMode) { return std::string(help); });
}

// The innermost subcommand selected on the command line (app itself if none).
inline const CLI::App& selected(const CLI::App& app) {
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) a = a->get_subcommands().front();
  return *a;
}

[[noreturn]] inline void usage_error(const char* prog, const CLI::App& app, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n\n%s", prog, why.c_str(), app.help().c_str());
  std::exit(2);
}

// The reason for a CLI11 parse error, in our wording.
inline std::string describe(const CLI::ParseError& e) {
  const std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr && what.find(" required ") != std::string::npos &&
      what.ends_with(" missing")) {
    std::string m = what.substr(0, what.find(':'));
    m.append(" needs a value");
    return m;
  }
  return what;
}

// Parses argv (argv[0] the program) and returns the innermost selected subcommand (app if none);
// exits after help (0) or a usage error (2) instead. Arguments no option took are left over (in
// order, verbatim: CLI11's own positionals would split "[a,b]"): those of positional_command
// that do not start with '-' (or are "-") go to *positionals; any other is an error, an unknown
// command for app itself, else an unknown option (or an unexpected argument).
inline const CLI::App& parse_or_exit(const char* prog, CLI::App& app, int argc, const char* const* argv,
                                     const CLI::App* positional_command = nullptr,
                                     std::vector<std::string>* positionals = nullptr) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(selected(app).help().c_str(), stdout);
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    usage_error(prog, selected(app), describe(e));
  }
  const CLI::App& sub = selected(app);
  for (const std::string& arg : sub.remaining()) {
    const bool dash = arg.starts_with("-") && arg != "-";
    if (!dash && &sub == positional_command && positionals != nullptr) {
      positionals->push_back(arg);
      continue;
    }
    std::string m;
    if (&sub == &app && !std::as_const(app).get_subcommands([](const CLI::App*) { return true; }).empty()) m = "unknown command '";
    else m = dash ? "unknown option '" : "unexpected argument '";
    m.append(arg).append("'");
    usage_error(prog, sub, m);
  }
  return sub;
}

}  // namespace shmcp::cli
