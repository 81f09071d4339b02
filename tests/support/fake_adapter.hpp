#pragma once

#include "adapters/api/adapters.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::testing {

/// How the fake answers one operation.
enum class fake_mode {
  /// Apply the effect, answer succeeded with `outputs`.
  succeed,
  /// Answer permanent_failure; nothing applied.
  fail_permanently,
  /// Answer retryable_failure `times` times, then behave as succeed.
  fail_retryably,
  /// Never answer (the caller's attempt_timeout fires); nothing applied.
  never_answer,
  /// Apply the effect but answer unknown_outcome; a later reconcile call
  /// finds the effect and answers succeeded without applying it again.
  unknown_after_apply,
  /// Answer parked (breaker open); nothing sent, nothing applied.
  park,
};

/// One call the fake received.
struct fake_call {
  std::string operation;
  std::string key;
  bool reconcile = false;
  /// What the step sent (billing payload, inherited fields, outputs).
  adapters::api::string_map input;
  /// The partition lease it was sent under (adapter_request).
  int32_t partition = -1;
  int64_t epoch = 0;
};

/// The fake's script and its record; shared between the test and the actor
/// (read it while the scheduler is idle).
struct fake_adapter_state {
  struct behavior {
    fake_mode mode = fake_mode::succeed;
    adapters::api::string_map outputs;
    int times = 1;
  };
  /// By operation; unlisted operations succeed with no output.
  std::map<std::string, behavior> script;
  /// Every call, in arrival order.
  std::vector<fake_call> calls;
  /// How often each (operation, key) effect was applied. A non-reconcile
  /// call applies again (like a system with no dedupe), so a count above 1
  /// means the engine repeated an effect.
  std::map<std::pair<std::string, std::string>, int> applied;
  /// Outputs of applied effects, found by reconcile calls.
  std::map<std::pair<std::string, std::string>, adapters::api::string_map>
    effects;
  /// How long after a call its answer arrives (the actor system's clock:
  /// under a test coordinator, when the test moves it); 0 = at once.
  std::chrono::milliseconds answer_delay{0};
  /// Promises never delivered (never_answer).
  std::vector<caf::typed_response_promise<adapters::api::adapter_reply>> held;

  /// Sets the behaviour of `operation`.
  void set(const std::string& operation, fake_mode mode,
           adapters::api::string_map outputs = {}, int times = 1) {
    script[operation] = behavior{mode, std::move(outputs), times};
  }

  /// Calls of `operation`.
  size_t count(const std::string& operation) const;

  /// Total applications of `operation` over all keys.
  int applications(const std::string& operation) const;
};

/// Spawns a recording fake adapter (scheduled, so the test_coordinator
/// drives it) serving any system.
adapters::api::adapter_actor
spawn_fake_adapter(caf::actor_system& sys,
                   std::shared_ptr<fake_adapter_state> state);

/// Lets `fake` serve every system of `adapters` (RADIUS, NetBox, VOLTHA,
/// GenieACS and AWX).
void fake_every_system(adapters::api::adapter_set& adapters,
                       const adapters::api::adapter_actor& fake);

} // namespace ispflow::testing
