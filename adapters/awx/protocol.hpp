#pragma once

#include "adapters/awx/settings.hpp"
#include "adapters/http/client.hpp"
#include "adapters/resilience/circuit_breaker.hpp"
#include "events/adapter_messages.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// The AWX wire format (contracts.md §4) as pure functions: what the adapter
// actor sends, how it reads the answers, and which adapter outcome each
// answer means. No I/O; RapidJSON stays in protocol.cpp.

namespace ispflow::adapters::awx {

/// The extra_vars key that carries the idempotency key.
inline constexpr std::string_view key_var = "ispflow_idempotency_key";

/// One job as the adapter reads it from `GET jobs/<id>/` or a job list.
struct job_info {
  int64_t id = 0;
  /// new, pending, waiting, running, successful, failed, error, canceled.
  std::string status;
  std::string job_explanation;
  /// `artifacts` (set_stats data) flattened: nested keys joined by dots,
  /// strings verbatim, other scalars as JSON text, arrays as JSON text.
  events::string_map artifacts;
  /// `extra_vars.ispflow_idempotency_key`, empty if absent.
  std::string idempotency_key;
};

/// One page of `GET jobs/?...`.
struct job_page {
  std::vector<job_info> jobs;
  /// The `next` link as given (usually a path with query), empty at the end.
  std::string next;
};

/// What a 201/202 launch answer says.
struct launch_info {
  int64_t job = 0;
  /// The job's status in the answer ("new", "pending", ...).
  std::string status;
  /// Names of the `ignored_fields` members, e.g. "extra_vars", "limit".
  std::vector<std::string> ignored;
  /// True if `ignored_fields.extra_vars` holds the idempotency key.
  bool key_ignored = false;
};

/// What `GET job_templates/<id>/launch/` says about the launch fields the
/// template accepts (AWX's JobLaunchSerializer).
struct launch_prompts {
  /// `ask_variables_on_launch`: extra_vars are taken as given. Without it
  /// AWX keeps only the survey's variables and ignores the others (201 with
  /// `ignored_fields.extra_vars`), the idempotency key among them.
  bool ask_variables = false;
  /// `ask_limit_on_launch`: without it a `limit` is ignored and the job
  /// runs against the whole inventory.
  bool ask_limit = false;
  /// `ask_inventory_on_launch`.
  bool ask_inventory = false;
  /// `survey_enabled` (the survey is on and has questions).
  bool survey_enabled = false;
};

/// Reads the answer of `GET job_templates/<id>/launch/`; an error if it is
/// not a JSON object with a boolean `ask_variables_on_launch`.
caf::expected<launch_prompts> parse_launch_prompts(std::string_view json);

/// The prompts `ts`'s launches need that `p` does not grant, by name
/// ("ask_variables_on_launch" always, "ask_limit_on_launch" when a limit is
/// configured, "ask_inventory_on_launch" when an inventory is); empty when
/// the template accepts every launch field the tenant sends.
std::vector<std::string> missing_prompts(const launch_prompts& p,
                                         const tenant_settings& ts);

/// The ask_*_on_launch prompt that lets a launch field through:
/// "extra_vars" -> "ask_variables_on_launch", "limit" ->
/// "ask_limit_on_launch", ...; "ask_<field>_on_launch" otherwise.
std::string prompt_of(std::string_view field);

/// True for AWX's terminal statuses: successful, failed, error, canceled.
bool is_terminal(std::string_view status) noexcept;

/// `base` + `path` (base ends with '/', path has none in front).
std::string join_url(const std::string& base, std::string_view path);

/// The URL of a `next` link: absolute links as given, paths resolved
/// against the scheme and authority of `base`.
std::string resolve_link(const std::string& base, std::string_view link);

/// The JSON body of `POST job_templates/<id>/launch/`: extra_vars with
/// ispflow_idempotency_key, tenant_id, subscriber_id and the configured
/// input fields; `inventory` and `limit` when configured.
std::string launch_body(const tenant_settings& ts,
                        const events::adapter_request& req);

/// The top-level fields `launch_body` sends, e.g. {"extra_vars", "limit"}.
std::vector<std::string> launch_fields(const tenant_settings& ts,
                                       const events::adapter_request& req);

/// Reads a launch answer (`job`, or the Location header as a fallback).
caf::expected<launch_info> parse_launch(const http::response& res);

/// Reads `GET jobs/<id>/`.
caf::expected<job_info> parse_job(std::string_view json);

/// Reads a page of `GET jobs/?...`.
caf::expected<job_page> parse_job_page(std::string_view json);

/// The reply for a job read by a poll: succeeded with job_id and
/// artifacts.<k> when successful; permanent_failure with the explanation
/// when failed, error or canceled; otherwise `parked` with `poll_interval`
/// as retry_after (the durable wait, see README.md).
events::adapter_reply job_reply(const job_info& job,
                                std::chrono::milliseconds poll_interval);

/// The reply for an answer that is not the expected success. `what` names
/// the call ("launch", "job look-up", ...). A transport failure before
/// sending or a 429 is retryable; a transport failure after sending or a
/// 5xx is unknown_outcome if `effect_possible` (launch), else retryable; 401
/// and 403 are permanent (the token); other statuses are permanent with the
/// body (cut to 1024 characters).
events::adapter_reply failure_reply(std::string_view what,
                                    const http::response& res,
                                    bool effect_possible);

/// How the breaker counts a response: failure for a transport failure, 429
/// or a 5xx; success for any other HTTP answer (a 4xx is a healthy system).
resilience::call_outcome health_of(const http::response& res) noexcept;

/// `t` as ISO 8601 UTC with microseconds, e.g. "2024-05-01T12:00:00.000250Z".
std::string iso8601(std::chrono::system_clock::time_point t);

} // namespace ispflow::adapters::awx
