#include "entangle/testing/schedule.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace entangle::testing {

namespace {

[[noreturn]] void bad(std::string_view text, const char* why) {
  throw std::invalid_argument(
    "not a schedule: \"" + std::string{text} + "\" (" + why
    + "; expected a seed such as 17, or choices such as choices:4=2,9=1)");
}

std::uint64_t number(std::string_view text, std::string_view all) {
  if (text.empty() || text.size() > 19)
    bad(all, "a number is missing or too long");
  std::uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      bad(all, "not a number");
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

} // namespace

schedule schedule::random(std::uint64_t seed) {
  schedule s;
  s.random_ = true;
  s.seed_ = seed;
  return s;
}

schedule schedule::choices(std::vector<choice> cs) {
  // By decision; a later entry for the same decision wins; default
  // choices need no entry.
  std::stable_sort(cs.begin(), cs.end(), [](const choice& a, const choice& b) {
    return a.at < b.at;
  });
  std::vector<choice> out;
  for (auto& c : cs) {
    if (!out.empty() && out.back().at == c.at)
      out.back() = c;
    else
      out.push_back(c);
  }
  out.erase(std::remove_if(out.begin(), out.end(),
                           [](const choice& c) { return c.option == 0; }),
            out.end());
  schedule s;
  s.choices_ = std::move(out);
  return s;
}

schedule schedule::parse(std::string_view text) {
  auto all = text;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text[0])))
    text.remove_prefix(1);
  while (!text.empty()
         && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  if (text.empty() || text == "default")
    return schedule{};
  constexpr std::string_view prefix = "choices:";
  if (text.substr(0, prefix.size()) != prefix)
    return random(number(text, all));
  text.remove_prefix(prefix.size());
  std::vector<choice> cs;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      bad(all, "a choice needs the form decision=option");
    auto option = number(item.substr(eq + 1), all);
    if (option > 0xffffffffu)
      bad(all, "an option number is too large");
    cs.push_back(choice{number(item.substr(0, eq), all),
                        static_cast<std::uint32_t>(option)});
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return choices(std::move(cs));
}

std::string schedule::to_string() const {
  if (random_)
    return std::to_string(seed_);
  if (choices_.empty())
    return "default";
  std::string out = "choices:";
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(choices_[i].at) + '=' +
           std::to_string(choices_[i].option);
  }
  return out;
}

} // namespace entangle::testing
