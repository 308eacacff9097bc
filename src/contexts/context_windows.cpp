// context_core's window and shared-worker members (HTML §11, §12.6):
// window.postMessage delivery with its document and origin checks, frames,
// navigation (unloading a document), shared worker connects.

#include <caf/send.hpp>

#include "contexts/context_core.hpp"
#include "entangle/message_event.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"
#include "contexts/window_message.hpp"

namespace entangle::detail {

void context_core::on_window_message(const window_delivery_ptr& d) {
  d->settled = true;
  auto drop = [&](drop_reason why) {
    sched_->drop(std::move(d->msg), why);
    end_turn();
  };
  // HTML §11.3-11.4, at delivery: the task belongs to the document it was
  // posted to, and the origin is checked against the *current* one.
  if (refusing() || !control_->is_window
      || d->document != control_->document.load())
    return drop(drop_reason::context_gone);
  if (d->target_origin && *d->target_origin != control_->origin)
    return drop(drop_reason::origin_mismatch);
  message_event ev;
  ev.origin = d->sender_origin;
  if (d->source)
    ev.source = window_proxy{d->source};
  guarded([&] {
#if ENTANGLE_TRACING
    trace_deliver_scope traced{sched_->tracer, d->msg.trace_id, id()};
#endif
    if (auto err = check_receivable_bytes(d->msg.buffer_bytes)) {
#if ENTANGLE_TRACING
      traced.type("messageerror");
#endif
      sched_->drop(std::move(d->msg), drop_reason::messageerror);
      ev.type = "messageerror";
      ev.data = null;
      ev.error = std::move(*err);
      fire_global(event_kind::messageerror, ev);
    } else {
      receive(d->msg, ev);
      fire_global(event_kind::message, ev);
    }
  });
  end_turn();
}

std::shared_ptr<context_control>
context_core::open_frame(std::string name, entangle::origin org,
                         init_function init) {
  spawn_options opts;
  opts.origin = std::move(org);
  opts.window = true;
  opts.parent_window = control_;
  return rt_.spawn(std::move(name), std::move(init), std::move(opts));
}

void context_core::navigate(entangle::origin org, init_function init) {
  pending_navigation_ = std::make_shared<navigation_request>(
    navigation_request{std::move(org), std::move(init)});
}

void context_core::on_navigate(const navigation_ptr& nav) {
  // The request is a task of this window's event loop: the document that
  // is current when it runs is the one that goes.
  if (!closing_ && is_window())
    pending_navigation_ = nav;
  end_turn();
}

void context_core::apply_navigation() {
  // The new document's init is a task too: a navigation it asks for takes
  // effect when it returns.
  while (pending_navigation_ && !closing_) {
    auto nav = std::move(pending_navigation_);
    unload_document();
    control_->origin = std::move(nav->org);
    if (nav->init)
      guarded([&] { nav->init(facade_); });
  }
}

void context_core::destroy_frames() {
  // Frames belong to their parent's document: destroyed with it (the web
  // removes an iframe's document with its parent's).
  std::vector<std::weak_ptr<context_control>> frames;
  {
    std::lock_guard<std::mutex> guard{control_->mu()};
    if (control_->frames)
      frames.swap(*control_->frames);
  }
  for (auto& f : frames) {
    if (auto ctl = f.lock()) {
      if (auto hdl = ctl->actor())
        caf::anon_send(hdl, unload_atom::value);
    }
  }
}

void context_core::unload_document() {
  // Like on_exit for the old document: its ports close (peers get close),
  // its tasks, timers, listeners, channels and frames go; the window stays.
  ++control_->document;
  destroy_frames();
  tasks_.clear();
  drop_timers();
  global_events_.clear();
  for (auto& obj : ports_.snapshot())
    close_port(*obj, drop_reason::context_gone);
  auto bcs = rare_ ? rare_->bcs : decltype(rare_->bcs){};
  for (auto& [seq, obj] : bcs)
    close_broadcast(*obj);
}

message_port context_core::connect_shared(std::string script,
                                          init_function init,
                                          std::string name) {
  // The pair spans two contexts from birth: it behaves as shipped.
  auto [outside, inside] = sched_->make_pair(true);
  auto port = adopt_port(std::move(outside));
  auto key = control_->origin.key() + '\n' + script + '\n' + name;
  rt_.connect_shared(key, name.empty() ? script : script + "#" + name,
                     control_->origin, std::move(init), std::move(inside));
  return port;
}

void context_core::on_connect(const connect_msg_ptr& msg, bool shared) {
  if (shared) {
    std::lock_guard<std::mutex> guard{rt_.mu};
    --control_->shared->pending_connects;
  }
  if (refusing()) { // ~serialized_message closes the client's port
    end_turn();
    return;
  }
  // HTML §12.6: a connect event at the global, data "", ports [the new
  // inside port], source that port; the port stays unstarted.
  message_event ev;
  ev.type = "connect";
  ev.data = std::string{};
  auto port = adopt_port(std::move(msg->ports.at(0)));
  msg->ports.clear();
  // The connection keeps this worker alive while its client holds the
  // other end, started or not (HTML §12.5-12.6: a client is an owner). It
  // counts as a started port does until the close event is seen here, the
  // port is closed or given away, or, while it is unstarted, the scheduler
  // reports that the client's end closed (on_peer_closed).
  auto& obj = *port.object();
  if (sched_->watch_close(*obj.record)) {
    obj.counted = true;
    ++open_started_;
  }
  ev.ports.push_back(port);
  ev.source = port;
  guarded([&] { fire_global(event_kind::connect, ev); });
  end_turn();
}

void context_core::on_peer_closed(std::uint64_t epoch) {
  // A started port hears of the close through its close event instead (it
  // stays counted until that event was dispatched).
  if (auto port = ports_.find(epoch); port && !port->started.load())
    uncount(*port);
  end_turn();
}

} // namespace entangle::detail
