#pragma once

#include "sim/common/faults.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::sim::awx {

/// One question of a job template's survey (`survey_spec.spec[]`).
struct survey_question {
  /// The extra_vars key it answers.
  std::string variable;
  /// "text", "textarea", "password", "integer", "float", "multiplechoice"
  /// or "multiselect" (only text-like and integer answers are checked).
  std::string type = "text";
  /// A launch without it answers 400 `variables_needed_to_start`.
  bool required = false;
};

/// A job template of the simulator.
struct job_template_seed {
  /// Primary key.
  int64_t id = 0;
  /// Name.
  std::string name;
  /// Whether `extra_vars` may be given at launch.
  bool ask_variables_on_launch = true;
  /// Whether `limit` may be given at launch.
  bool ask_limit_on_launch = false;
  /// Whether `inventory` may be given at launch.
  bool ask_inventory_on_launch = false;
  /// Whether `credentials` may be given at launch.
  bool ask_credential_on_launch = false;
  /// Whether `job_tags` may be given at launch.
  bool ask_tags_on_launch = false;
  /// Whether `skip_tags` may be given at launch.
  bool ask_skip_tags_on_launch = false;
  /// Whether the survey is on. As in AWX, a survey accepts at launch only
  /// the variables its questions name; every other variable is dropped into
  /// `ignored_fields.extra_vars` unless ask_variables_on_launch is set.
  bool survey_enabled = false;
  /// The survey's questions (`survey_spec.spec`); an enabled survey without
  /// questions counts as no survey.
  std::vector<survey_question> survey_spec;
  /// Passwords a launch must supply.
  std::vector<std::string> passwords_needed_to_start;
  /// False: every launch answers 405.
  bool can_launch = true;
  /// Terminal status of its jobs: "successful", "failed" or "error"
  /// (`extra_vars.sim_outcome` overrides it per job).
  std::string outcome = "successful";
  /// `artifacts` of a successful job (JSON object text).
  std::string artifacts_json = R"({"provisioned":true})";
};

/// Start-up options of the AWX simulator.
struct options {
  /// TCP port on 127.0.0.1; 0 picks an ephemeral one.
  uint16_t port = 0;
  /// YAML or JSON seed file (`job_templates: [...]`); empty = built-in.
  std::string seed_file;
  /// Faults in force from the start (common::fault_config JSON).
  std::string faults_json;
  /// Accepted Bearer tokens; empty = any non-empty token.
  std::vector<std::string> tokens;
  /// A job leaves `new` for `pending` this long after its launch.
  uint32_t pending_after_ms = 50;
  /// ... `pending` for `running`.
  uint32_t running_after_ms = 150;
  /// ... `running` for its terminal status.
  uint32_t finish_after_ms = 500;
  /// When true, statuses change only through `set_job_status` or
  /// `POST /_sim/jobs/<id>/status`.
  bool manual = false;
};

/// A job as stored (for test inspection).
struct job_view {
  /// Primary key.
  int64_t id = 0;
  /// Template it was launched from.
  int64_t job_template = 0;
  /// Current status.
  std::string status;
  /// The job's extra_vars (JSON object text).
  std::string extra_vars;
};

/// An AWX API v2 subset (job templates, launch, jobs, cancel) on loopback;
/// thread-safe.
class server {
public:
  /// Loads the seed and starts serving; the port is bound on return.
  static caf::expected<std::unique_ptr<server>> start(options opts);

  ~server();

  /// The bound port.
  uint16_t port() const noexcept;

  /// Stops serving; idempotent.
  void stop();

  /// Every job, by id.
  std::vector<job_view> jobs() const;

  /// Forces a job's status (any of AWX's JOB_STATUS_CHOICES); false for an
  /// unknown job or status.
  bool set_job_status(int64_t job, const std::string& status);

  /// Number of successful launches.
  std::size_t launch_count() const;

  /// Number of `GET job_templates/<id>/launch/` answered (the prompt reads
  /// a client makes before launching).
  std::size_t launch_prompt_reads() const;

  /// Number of `GET /jobs/` pages answered (look-ups of a job by key).
  std::size_t job_list_reads() const;

  /// Number of launches answered 201 with a non-empty `ignored_fields`.
  std::size_t ignored_field_launches() const;

  /// Changes a template's prompts and survey flag from a JSON object with
  /// any of ask_variables_on_launch, ask_limit_on_launch,
  /// ask_inventory_on_launch, ask_credential_on_launch, ask_tags_on_launch,
  /// ask_skip_tags_on_launch, survey_enabled (booleans); also
  /// `POST /_sim/job_templates/<id>`. False for an unknown template or a
  /// body that is not such an object.
  bool patch_template(int64_t id, const std::string& json);

  /// Replaces the injected faults.
  void set_faults(common::fault_config cfg);

  /// The injected faults now in force.
  common::fault_config faults() const;

  struct impl;

private:
  explicit server(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::awx
