// Unknown commands, the way cobra (flyctl) reports them: the CLI11 default ("A subcommand
// is required" and the parent's help) hid the one fact the user needs, that the word typed
// is not a command. See cli/extend.h for the contract.
#include <algorithm>
#include <cctype>

#include "cli/extend.h"
#include "common/strings.h"

namespace privcast::cli {
namespace {

bool HasPositionals(const CLI::App* c) {
  for (const CLI::Option* o : c->get_options())
    if (o->get_positional()) return true;
  return false;
}

// The option `token` names on `c` or a parent (options fall through), or null.
const CLI::Option* FindOption(const CLI::App* c, const std::string& token) {
  for (; c; c = c->get_parent()) {
    if (const CLI::Option* o = c->get_option_no_throw(token)) return o;
  }
  return nullptr;
}

}  // namespace

size_t Levenshtein(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<int> CheckUnknownCommand(const CLI::App& root, const std::vector<std::string>& args, std::ostream& err) {
  const CLI::App* cur = &root;
  std::string path = root.get_name();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& t = args[i];
    if (t.size() > 1 && t[0] == '-') {
      // An option: skip its value when it takes one and it is not glued on (--app=x, -ax).
      if (t == "-h" || t == "--help") return std::nullopt;  // CLI11 shows the help
      std::string name = t.substr(0, t.find('='));
      if (name != t || (t[1] != '-' && t.size() > 2)) continue;
      const CLI::Option* o = FindOption(cur, name);
      if (o && o->get_expected_min() > 0) ++i;
      continue;
    }
    auto subs = cur->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;  // a leaf: the rest are its arguments
    if (const CLI::App* s = FindSubcommand(cur, t)) {
      cur = s;
      path += " " + s->get_name();
      continue;
    }
    if (HasPositionals(cur)) return std::nullopt;
    std::vector<std::string> close;
    for (const CLI::App* s : subs) {
      std::string n = s->get_name();
      if (n.empty() || s->get_group().empty()) continue;  // hidden
      if (Levenshtein(Lower(t), Lower(n)) <= 2 || Lower(n).rfind(Lower(t), 0) == 0) close.push_back(n);
    }
    err << "Error: unknown command \"" << t << "\" for \"" << path << "\"\n";
    if (!close.empty()) {
      err << "\nDid you mean this?\n";
      for (auto& n : close) err << "\t" << n << "\n";
    }
    err << "\nRun '" << path << " --help' for usage.\n";
    return 1;
  }
  return std::nullopt;
}

}  // namespace privcast::cli
