#include "adapters/postgres/replan.hpp"

#include <algorithm>
#include <pqxx/nontransaction>

namespace ispflow::adapters::postgres::detail {

replan_schedule::replan_schedule(std::chrono::milliseconds first,
                                 std::chrono::milliseconds most)
  : first_(first), most_(std::max(most, first)) {
  restart();
}

void replan_schedule::restart() {
  wait_ = first_;
  at_ = std::chrono::steady_clock::now() + first_;
}

void replan_schedule::run_if_due(pqxx::connection& conn) {
  if (first_.count() <= 0)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now < at_)
    return;
  {
    pqxx::nontransaction tx{conn};
    tx.exec0("DISCARD PLANS");
  }
  ++count_;
  wait_ = std::min(wait_ * 2, most_);
  at_ = now + wait_;
}

} // namespace ispflow::adapters::postgres::detail
