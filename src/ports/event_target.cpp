#include "ports/event_target.hpp"

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
  if (type == "ready")
    return event_kind::ready;
  return std::nullopt;
}

/// Counts a dispatch on the stack; the outermost one, on its way out,
/// releases what listeners retired meanwhile (outside the state: their
/// destructors may touch this target again).
class event_target::dispatch_scope {
public:
  explicit dispatch_scope(state& s) noexcept : s_(s) {
    ++s_.dispatching;
  }
  ~dispatch_scope() {
    if (--s_.dispatching != 0 || !s_.extra)
      return;
    auto& x = *s_.extra;
    if (!x.dead_entries.empty() || !x.dead_fns.empty()) {
      auto entries = std::move(x.dead_entries);
      auto fns = std::move(x.dead_fns);
      x.dead_entries.clear();
      x.dead_fns.clear();
    }
  }
  dispatch_scope(const dispatch_scope&) = delete;
  dispatch_scope& operator=(const dispatch_scope&) = delete;

private:
  state& s_;
};

void event_target::retire(std::shared_ptr<entry>&& e) {
  e->removed = true;
  if (st_->dispatching > 0)
    st_->more().dead_entries.push_back(std::move(e));
}

void event_target::retire(std::vector<std::shared_ptr<entry>>::iterator i) {
  auto dead = std::move(*i);
  st_->list.erase(i);
  retire(std::move(dead));
}

event_target::state& event_target::st() {
  if (!st_)
    st_ = std::make_unique<state>();
  return *st_;
}

bool event_target::empty(event_kind k) const noexcept {
  if (!st_)
    return true;
  auto& list = st_->list;
  return std::none_of(list.begin(), list.end(),
                      [k](const auto& e) { return e->kind == k; });
}

void event_target::set_attribute(event_kind k, event_handler fn) {
  if (!fn && !st_)
    return;
  auto& list = st().list;
  auto i = std::find_if(list.begin(), list.end(), [k](const auto& e) {
    return e->kind == k && e->attribute;
  });
  if (!fn) {
    if (i != list.end())
      retire(i);
    return;
  }
  auto boxed = std::make_unique<event_handler>(std::move(fn));
  if (i != list.end()) {
    // Same slot, new value; the old one may be running right now.
    if (st_->dispatching > 0)
      st_->more().dead_fns.push_back(std::move((*i)->fn));
    (*i)->fn = std::move(boxed);
    return;
  }
  list.push_back(
    std::make_shared<entry>(entry{st_->next_id++, std::move(boxed), k, true}));
}

listener_id event_target::add(event_kind k, event_handler fn) {
  auto& s = st();
  auto id = s.next_id++;
  if (fn)
    s.list.push_back(std::make_shared<entry>(
      entry{id, std::make_unique<event_handler>(std::move(fn)), k, false}));
  return id;
}

void event_target::remove(event_kind k, listener_id id) {
  if (!st_)
    return;
  auto& list = st_->list;
  auto i = std::find_if(list.begin(), list.end(), [k, id](const auto& e) {
    return e->kind == k && e->id == id && !e->attribute;
  });
  if (i != list.end())
    retire(i);
}

void event_target::dispatch(event_kind k, message_event& ev) {
  if (!st_)
    return;
  auto& list = st_->list;
  std::size_t n = 0;
  const std::shared_ptr<entry>* first = nullptr;
  if (list.size() == 1) {
    // The common case, one listener (on_message): no count.
    if (list.front()->kind == k) {
      n = 1;
      first = &list.front();
    }
  } else {
    for (auto& e : list)
      if (e->kind == k && n++ == 0)
        first = &e;
  }
  if (n == 0)
    return;
  dispatch_scope scope{*st_};
  if (n == 1) {
    // Fast path, no snapshot and no reference count: the scope keeps the
    // entry and its handler alive whatever the handler does.
    auto* e = first->get();
    (*e->fn)(ev);
    return;
  }
  std::vector<std::shared_ptr<entry>> snapshot;
  snapshot.reserve(n);
  for (auto& e : list)
    if (e->kind == k)
      snapshot.push_back(e);
  for (auto& e : snapshot)
    if (!e->removed)
      (*e->fn)(ev);
}

void event_target::set_typed(const std::string& name, typed_decoder fn) {
  if (fn)
    st().more().typed[name] = std::move(fn);
  else if (st_ && st_->extra)
    st_->extra->typed.erase(name);
}

const typed_decoder* event_target::typed(std::string_view name) const {
  if (!st_ || !st_->extra)
    return nullptr;
  auto& typed = st_->extra->typed;
  auto i = typed.find(name);
  return i == typed.end() ? nullptr : &i->second;
}

void event_target::clear() {
  // The state stays (with its id counter: a later add must not reuse an
  // id that an old handle could still remove).
  if (!st_)
    return;
  if (st_->extra)
    st_->extra->typed.clear();
  auto list = std::move(st_->list);
  st_->list.clear();
  for (auto& e : list)
    retire(std::move(e));
}

} // namespace entangle::detail
