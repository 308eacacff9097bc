#include "event_target.hpp"

#include <algorithm>

#include "entangle/message_event.hpp"

namespace entangle::detail {

std::optional<event_kind> parse_event_kind(std::string_view type) noexcept {
  if (type == "message")
    return event_kind::message;
  if (type == "messageerror")
    return event_kind::messageerror;
  if (type == "close")
    return event_kind::close;
  if (type == "error")
    return event_kind::error;
  if (type == "connect")
    return event_kind::connect;
  return std::nullopt;
}

void event_target::set_attribute(event_kind k, event_handler fn) {
  auto& l = lists_[index(k)];
  auto i = std::find_if(l.begin(), l.end(),
                        [](const auto& e) { return e->attribute; });
  if (!fn) {
    if (i != l.end()) {
      (*i)->removed = true;
      l.erase(i);
    }
    return;
  }
  if (i != l.end()) {
    (*i)->fn = std::move(fn);
    return;
  }
  l.push_back(std::make_shared<entry>(entry{next_id_++, std::move(fn), true}));
}

listener_id event_target::add(event_kind k, event_handler fn) {
  auto id = next_id_++;
  if (fn)
    lists_[index(k)].push_back(
      std::make_shared<entry>(entry{id, std::move(fn), false}));
  return id;
}

void event_target::remove(event_kind k, listener_id id) {
  auto& l = lists_[index(k)];
  auto i = std::find_if(l.begin(), l.end(), [id](const auto& e) {
    return e->id == id && !e->attribute;
  });
  if (i != l.end()) {
    (*i)->removed = true;
    l.erase(i);
  }
}

void event_target::dispatch(event_kind k, message_event& ev) {
  auto& l = lists_[index(k)];
  if (l.empty())
    return;
  if (l.size() == 1) {
    // Fast path: keep the entry alive even if the handler replaces itself.
    auto e = l.front();
    e->fn(ev);
    return;
  }
  auto snapshot = l;
  for (auto& e : snapshot)
    if (!e->removed)
      e->fn(ev);
}

void event_target::set_typed(const std::string& name, typed_decoder fn) {
  if (fn)
    typed_[name] = std::move(fn);
  else
    typed_.erase(name);
}

const typed_decoder* event_target::typed(std::string_view name) const {
  auto i = typed_.find(name);
  return i == typed_.end() ? nullptr : &i->second;
}

void event_target::clear() noexcept {
  typed_.clear();
  for (auto& l : lists_) {
    for (auto& e : l)
      e->removed = true;
    l.clear();
  }
}

} // namespace entangle::detail
