#include "entangle/value.hpp"

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "values/clone_def.hpp"
#include "values/value_errors.hpp"
#include "values/value_index.hpp"

namespace entangle {

value value::obj(
  std::initializer_list<std::pair<const std::string, value>> members) {
  return value{object(members)};
}

value value::arr(std::initializer_list<value> elements) {
  return value{array(elements)};
}

// -- members and elements -----------------------------------------------------

const value* value::find(std::string_view key) const noexcept {
  if (auto* o = get_if<object>()) {
    auto i = o->find(key);
    return i == o->end() ? nullptr : &i->second;
  }
  if (auto* s = get_if<shared_object>(); s != nullptr && *s) {
    auto& props = s->properties();
    auto i = props.find(key);
    return i == props.end() ? nullptr : &i->second;
  }
  return nullptr;
}

const value& value::member_or_throw(std::string_view key,
                                   bool missing_ok) const {
  static const value missing;
  if (!is_object())
    throw type_error(fmt::format("cannot read member '{}' of a {}", key,
                                 type_name()));
  if (auto* v = find(key))
    return *v;
  if (missing_ok)
    return missing;
  if (auto* s = get_if<shared_object>())
    detail::throw_missing_member(key, s->properties());
  detail::throw_missing_member(key, get<object>());
}

const value& value::at(std::string_view key) const {
  return member_or_throw(key, false);
}

const value& value::at(std::size_t index) const {
  if (auto* a = get_if<array>()) {
    if (index >= a->size())
      throw range_error(
        fmt::format("index {} out of range (length {})", index, a->size()));
    return (*a)[index];
  }
  if (auto* s = get_if<shared_array>()) {
    if (index >= shared_array::max_length)
      throw range_error(fmt::format("index {} out of range (length {})",
                                    index, s->length()));
    return s->at(static_cast<std::uint32_t>(index));
  }
  throw type_error(
    fmt::format("cannot read index {} of a {}", index, type_name()));
}

void value::rethrow_for_member(std::string_view key, const dom_exception& e) {
  auto what = fmt::format("member '{}': {}", key, e.message());
  if (dynamic_cast<const range_error*>(&e) != nullptr)
    throw range_error(what);
  throw type_error(what);
}

void value::throw_not_integral(double x, int bits, bool is_signed) {
  throw range_error(fmt::format(
    "{} is not an integer that fits in a {}-bit {} integer", x, bits,
    is_signed ? "signed" : "unsigned"));
}

// -- type names ---------------------------------------------------------------

namespace {

constexpr const char* names[] = {
  "undefined",   "null",          "boolean",      "number",
  "bigint",      "string",        "date",         "regexp",
  "boxed primitive", "error",     "arraybuffer",  "typed array",
  "dataview",    "array",         "object",       "shared object",
  "shared array", "map",          "set",          "port",
  "host object", "port slot",     "clone reference", "clone definition",
};

static_assert(std::size(names) == std::variant_size_v<value::variant_type>);

} // namespace

const char* value::type_name() const noexcept {
  return names[v_.index()];
}

template <class T>
const char* value::type_name_of() noexcept {
  static_assert(detail::variant_index<T> < std::size(names),
                "T is not one of value's alternatives");
  return names[detail::variant_index<T>];
}

#define ENTANGLE_INSTANTIATE(T)                                                \
  template const char* value::type_name_of<T>() noexcept;
ENTANGLE_INSTANTIATE(undefined_t)
ENTANGLE_INSTANTIATE(null_t)
ENTANGLE_INSTANTIATE(bool)
ENTANGLE_INSTANTIATE(double)
ENTANGLE_INSTANTIATE(bigint)
ENTANGLE_INSTANTIATE(std::string)
ENTANGLE_INSTANTIATE(date)
ENTANGLE_INSTANTIATE(regexp)
ENTANGLE_INSTANTIATE(boxed_primitive)
ENTANGLE_INSTANTIATE(error_value)
ENTANGLE_INSTANTIATE(array_buffer)
ENTANGLE_INSTANTIATE(typed_array)
ENTANGLE_INSTANTIATE(data_view)
ENTANGLE_INSTANTIATE(array)
ENTANGLE_INSTANTIATE(object)
ENTANGLE_INSTANTIATE(shared_object)
ENTANGLE_INSTANTIATE(shared_array)
ENTANGLE_INSTANTIATE(value_map)
ENTANGLE_INSTANTIATE(value_set)
ENTANGLE_INSTANTIATE(message_port)
ENTANGLE_INSTANTIATE(host_object)
ENTANGLE_INSTANTIATE(detail::port_slot)
ENTANGLE_INSTANTIATE(detail::clone_ref)
ENTANGLE_INSTANTIATE(detail::clone_def_box)
#undef ENTANGLE_INSTANTIATE

void value::throw_wrong_type(const char* wanted) const {
  throw type_error(
    fmt::format("value holds {}, not {}", type_name(), wanted));
}

// -- regexp -------------------------------------------------------------------

namespace {

constexpr std::string_view regexp_flags = "dgimsuvy";

} // namespace

regexp::regexp(std::string source, std::string_view flags)
  : source_(source.empty() ? std::string{"(?:)"} : std::move(source)) {
  for (char f : flags) {
    auto bit = regexp_flags.find(f);
    if (bit == std::string_view::npos || (flags_ >> bit & 1u) != 0)
      throw dom_exception(std::string{error_name::syntax},
                          fmt::format("invalid regular expression flags "
                                      "'{}'",
                                      flags));
    flags_ |= static_cast<std::uint8_t>(1u << bit);
  }
  if (has_flag('u') && has_flag('v'))
    throw dom_exception(std::string{error_name::syntax},
                        "the regular expression flags 'u' and 'v' exclude "
                        "each other");
}

std::string regexp::flags() const {
  std::string out;
  for (std::size_t i = 0; i < regexp_flags.size(); ++i)
    if ((flags_ >> i & 1u) != 0)
      out += regexp_flags[i];
  return out;
}

bool regexp::has_flag(char f) const noexcept {
  auto bit = regexp_flags.find(f);
  return bit != std::string_view::npos && (flags_ >> bit & 1u) != 0;
}

// -- errors -------------------------------------------------------------------

namespace detail {

void throw_missing_member(std::string_view key, const object& props) {
  std::string have;
  std::size_t shown = 0;
  for (auto& kv : props) {
    if (shown == 8) {
      have += ", ...";
      break;
    }
    have += (shown++ == 0 ? "" : ", ") + kv.first;
  }
  throw type_error(fmt::format("object has no member '{}' ({})", key,
                               have.empty() ? "it has none"
                                            : "it has: " + have));
}

} // namespace detail

// -- clone_def_box ------------------------------------------------------------

namespace detail {

clone_def_box::clone_def_box(std::unique_ptr<clone_def> def) noexcept
  : def_(std::move(def)) {
  // nop
}

clone_def_box::clone_def_box(const clone_def_box& other)
  : def_(std::make_unique<clone_def>(*other.def_)) {
  // nop
}

clone_def_box::clone_def_box(clone_def_box&& other) noexcept
  : def_(std::move(other.def_)) {
  // nop
}

clone_def_box& clone_def_box::operator=(const clone_def_box& other) {
  if (this != &other)
    def_ = std::make_unique<clone_def>(*other.def_);
  return *this;
}

clone_def_box& clone_def_box::operator=(clone_def_box&& other) noexcept {
  def_ = std::move(other.def_);
  return *this;
}

clone_def_box::~clone_def_box() = default;

bool operator==(const clone_def_box& x, const clone_def_box& y) {
  return *x.def_ == *y.def_;
}

} // namespace detail

} // namespace entangle
