#pragma once

#include <string>
#include <string_view>

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` header "00-<trace id: 32 hex>-<parent id: 16 hex>-<flags:
// 2 hex>". ispflow keeps the trace of the billing event that started a saga
// and sends it on every adapter call, each call as a span of its own.

namespace ispflow::adapters::http {

/// True if `tp` is a version-00 traceparent with a trace id and a parent id
/// that are not all zeros (lower-case hex, as the specification requires).
bool valid_traceparent(std::string_view tp) noexcept;

/// The trace id (32 hex) of `tp`, or empty when `tp` is not valid.
std::string trace_id_of(std::string_view tp);

/// A traceparent for a call made on behalf of `parent`: same trace id and
/// flags, a new random parent id (the call's own span). Empty when `parent`
/// is not valid (the call then carries no trace context).
std::string child_traceparent(std::string_view parent);

} // namespace ispflow::adapters::http
