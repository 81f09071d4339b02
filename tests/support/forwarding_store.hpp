#pragma once

#include "actors/saga_store.hpp"

#include <tuple>
#include <utility>

namespace ispflow::testing {

/// The saga store's skip and both loads of a stand-in store that forwards
/// them to the real store in `self->state.inner` (forwarded_reads adds the
/// status request). A stand-in that changes only how it saves or answers
/// the startable query lists its own handlers and these, as CAF 0.17's
/// typed behaviours cannot be composed:
///
///   return std::apply([&](auto... forwards) {
///     return behavior_type{own handlers..., forwards...};
///   }, forwarded_reads(self));
template <class Self>
auto forwarded_skip_and_loads(Self self) {
  namespace pg = adapters::postgres;
  return std::make_tuple(
    [self](skip_atom, int64_t id, std::string& reason,
           std::vector<events::kafka_record>& records, pg::write_fence fence) {
      return self->delegate(self->state.inner, skip_atom_v, id,
                            std::move(reason), std::move(records), fence);
    },
    [self](load_atom, std::vector<int32_t>& parts) {
      return self->delegate(self->state.inner, load_atom_v, std::move(parts));
    },
    [self](load_atom, std::string& id) {
      return self->delegate(self->state.inner, load_atom_v, std::move(id));
    });
}

/// forwarded_skip_and_loads and the status request.
template <class Self>
auto forwarded_reads(Self self) {
  return std::tuple_cat(
    forwarded_skip_and_loads(self),
    std::make_tuple([self](status_atom, actors::subscriber_keys& q) {
      return self->delegate(self->state.inner, status_atom_v, std::move(q));
    }));
}

} // namespace ispflow::testing
