#include "actors/bounded_requests.hpp"

#include "events/type_ids.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

namespace ispflow::actors {

bounded_requests::~bounded_requests() {
  if (watch_)
    for (auto& [token, c] : calls_)
      watch_->disarm(c.deadline);
}

uint64_t bounded_requests::arm(caf::actor_control_block* requester,
                               std::chrono::milliseconds timeout,
                               std::function<void(caf::error&)> on_error) {
  auto token = next_token_++;
  caf::weak_actor_ptr weak{requester};
  using clock_type = deadline_watch::clock_type;
  auto now = clock_type::now();
  auto due = timeout >= clock_type::time_point::max() - now
               ? clock_type::time_point::max()
               : now + timeout;
  auto id = watch_->arm(due, [weak, token] {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), timeout_atom_v,
                     token);
  });
  calls_.emplace(token, call{id, std::move(on_error)});
  return token;
}

bool bounded_requests::settle(uint64_t token) {
  auto i = calls_.find(token);
  if (i == calls_.end())
    return false;
  watch_->disarm(i->second.deadline);
  calls_.erase(i);
  return true;
}

void bounded_requests::timed_out(uint64_t token) {
  auto i = calls_.find(token);
  if (i == calls_.end())
    return; // answered meanwhile
  auto on_error = std::move(i->second.on_error);
  calls_.erase(i);
  caf::error err = caf::make_error(caf::sec::request_timeout);
  on_error(err);
}

} // namespace ispflow::actors
