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

bool event_target::empty(event_kind k) const noexcept {
  return std::none_of(list_.begin(), list_.end(),
                      [k](const auto& e) { return e->kind == k; });
}

void event_target::set_attribute(event_kind k, event_handler fn) {
  auto i = std::find_if(list_.begin(), list_.end(), [k](const auto& e) {
    return e->kind == k && e->attribute;
  });
  if (!fn) {
    if (i != list_.end()) {
      (*i)->removed = true;
      list_.erase(i);
    }
    return;
  }
  if (i != list_.end()) {
    (*i)->fn = std::move(fn);
    return;
  }
  list_.push_back(
    std::make_shared<entry>(entry{next_id_++, std::move(fn), k, true}));
}

listener_id event_target::add(event_kind k, event_handler fn) {
  auto id = next_id_++;
  if (fn)
    list_.push_back(
      std::make_shared<entry>(entry{id, std::move(fn), k, false}));
  return id;
}

void event_target::remove(event_kind k, listener_id id) {
  auto i = std::find_if(list_.begin(), list_.end(), [k, id](const auto& e) {
    return e->kind == k && e->id == id && !e->attribute;
  });
  if (i != list_.end()) {
    (*i)->removed = true;
    list_.erase(i);
  }
}

void event_target::dispatch(event_kind k, message_event& ev) {
  std::size_t n = 0;
  const std::shared_ptr<entry>* first = nullptr;
  for (auto& e : list_)
    if (e->kind == k && n++ == 0)
      first = &e;
  if (n == 0)
    return;
  if (n == 1) {
    // Fast path: keep the entry alive even if the handler replaces itself.
    auto e = *first;
    e->fn(ev);
    return;
  }
  std::vector<std::shared_ptr<entry>> snapshot;
  snapshot.reserve(n);
  for (auto& e : list_)
    if (e->kind == k)
      snapshot.push_back(e);
  for (auto& e : snapshot)
    if (!e->removed)
      e->fn(ev);
}

void event_target::set_typed(const std::string& name, typed_decoder fn) {
  if (fn) {
    if (!typed_)
      typed_ = std::make_unique<
        std::map<std::string, typed_decoder, std::less<>>>();
    (*typed_)[name] = std::move(fn);
  } else if (typed_) {
    typed_->erase(name);
  }
}

const typed_decoder* event_target::typed(std::string_view name) const {
  if (!typed_)
    return nullptr;
  auto i = typed_->find(name);
  return i == typed_->end() ? nullptr : &i->second;
}

void event_target::clear() noexcept {
  typed_.reset();
  for (auto& e : list_)
    e->removed = true;
  list_.clear();
}

} // namespace entangle::detail
