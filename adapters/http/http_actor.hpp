#pragma once

#include "adapters/http/client.hpp"
#include "events/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace ispflow::adapters::http {

/// Runs HTTP requests for adapter actors on one shared `client`.
///
/// interface http_actor {
///   /// Sends `request` and answers with its `response` once it completes
///   /// (a transport failure is a `response` with `error != none`, never a
///   /// CAF error). The request's own `timeout` bounds the wait, so callers
///   /// may use `caf::infinite`.
///   (http_atom, request) -> (response)
/// }
using http_actor
  = caf::typed_actor<caf::replies_to<http_atom, request>::with<response>>;

/// Spawns an http_actor owning a client made from `opts`. If the client
/// cannot start, the actor answers every request with `other` and the
/// reason in `error_text`. The client (and its thread) stops when the actor
/// terminates; requests still running then complete with "client shut
/// down".
http_actor spawn_http_actor(caf::actor_system& sys, client_options opts = {});

} // namespace ispflow::adapters::http

// Local-only message types (never serialized).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::http::request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::http::response)
