#pragma once

// Private to ispflow_events: the CloudEvents decoder in two steps, so that
// intake can check the type between the envelope and the payload and can
// validate the parsed payload without parsing it again.

#include "events/cloud_event.hpp"

#include <optional>
#include <rapidjson/document.h>
#include <string>

namespace ispflow::events::detail {

/// State of one decode. Not copyable; the DOM lives in a small local pool.
struct envelope_reader {
  /// The attributes; `data` stays empty (see `compact_payload`).
  cloud_event event;
  /// True for `application/cloudevents+json`.
  bool structured = false;
  /// The payload object once `read_payload` succeeded.
  const rapidjson::Value* payload = nullptr;

  envelope_reader();
  envelope_reader(const envelope_reader&) = delete;
  envelope_reader& operator=(const envelope_reader&) = delete;

  /// Step 1: content type and attributes (parses the value in structured
  /// mode). Returns the error, or nullopt.
  std::optional<intake_error> read_envelope(const kafka_record& rec);

  /// Step 2: parses the binary-mode value, or finds structured `data`, and
  /// checks that it is a JSON object.
  std::optional<intake_error> read_payload(const kafka_record& rec);

  /// The payload as compact JSON text; requires a successful `read_payload`.
  std::string compact_payload() const;

private:
  char buffer_[16 * 1024];
  rapidjson::MemoryPoolAllocator<> pool_;
  rapidjson::Document doc_;
};

} // namespace ispflow::events::detail
