#pragma once

#include "adapters/radius/protocol/packet.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::radius {

/// Data type of an attribute as named in a FreeRADIUS dictionary.
enum class data_type : uint8_t {
  string,
  octets,
  ipaddr,
  integer,
  date,
  ipv6addr,
  ipv6prefix,
  ipv4prefix,
  ifid,
  integer64,
  byte,
  short_,
  signed_,
  ether,
  tlv,
  vsa,
  combo_ip,
  other,
};

/// Stable dictionary name of a data type, e.g. "ipaddr".
std::string_view to_string(data_type x);

/// One ATTRIBUTE line of a dictionary.
struct attribute_def {
  /// Attribute name, e.g. "Mikrotik-Rate-Limit".
  std::string name;
  /// Vendor id (0 for the standard space).
  uint32_t vendor = 0;
  /// Attribute number within the vendor (the last component of a dotted oid).
  uint32_t type = 0;
  /// Full oid as written, e.g. "8" or "59.1" (TLV children and extended ones).
  std::string oid;
  /// True for attributes with a dotted oid; they are found by name only.
  bool nested = false;
  /// Value type.
  data_type kind = data_type::octets;
  /// Fixed size for `octets[N]`, otherwise 0.
  uint32_t fixed_size = 0;
  /// `encrypt=N` flag (1 = User-Password hiding, 2 = Tunnel-Password, 3 =
  /// Ascend).
  uint8_t encrypt = 0;
  /// `has_tag` flag.
  bool has_tag = false;
  /// `array` flag.
  bool array = false;
  /// `concat` flag.
  bool concat = false;
  /// `virtual` flag: server-internal, never on the wire.
  bool virtual_ = false;
};

/// One VENDOR line.
struct vendor_def {
  /// Vendor name, e.g. "Mikrotik".
  std::string name;
  /// IANA private enterprise number.
  uint32_t id = 0;
  /// Sizes of the type and length fields inside its Vendor-Specific attribute.
  vendor_format format;
};

/// A FreeRADIUS dictionary tree, read once and then immutable (thread-safe
/// for concurrent readers).
class dictionary {
public:
  /// Loads `path` (e.g. /usr/share/freeradius/dictionary) and its $INCLUDEs.
  static caf::expected<dictionary> load(const std::string& path);

  /// Parses dictionary text; $INCLUDEs are resolved relative to `base_dir`.
  static caf::expected<dictionary> parse(std::string_view text,
                                         const std::string& base_dir = ".");

  dictionary();
  ~dictionary();
  dictionary(dictionary&&) noexcept;
  dictionary& operator=(dictionary&&) noexcept;

  /// Attribute by name (case-insensitive, as FreeRADIUS does).
  const attribute_def* find(std::string_view name) const;

  /// Top-level attribute by (vendor, type); the last definition wins.
  const attribute_def* find(uint32_t vendor, uint32_t type) const;

  /// Vendor by name (case-insensitive).
  const vendor_def* find_vendor(std::string_view name) const;

  /// Vendor by id.
  const vendor_def* find_vendor(uint32_t id) const;

  /// Number of a VALUE name of an attribute, e.g. ("Error-Cause",
  /// "Session-Context-Not-Found") -> 503.
  std::optional<uint64_t> value_of(std::string_view attribute,
                                   std::string_view value_name) const;

  /// VALUE name of a number of an attribute, if one is defined.
  std::optional<std::string> value_name(std::string_view attribute,
                                        uint64_t number) const;

  /// Vendor format for the codec (1,1 when the vendor is unknown).
  vendor_format format_of(uint32_t vendor) const;

  /// A resolver for decode/encode that reads this dictionary; the
  /// dictionary must outlive it.
  vendor_format_fn formats() const;

  /// Builds an attribute from its name and a value in FreeRADIUS text form
  /// ("10.0.0.1", "3600", "Admin-Reset", "0x0a0b", "10M/25M").
  caf::expected<attribute> make(std::string_view name,
                                std::string_view text) const;

  /// Renders an attribute's value as text (VALUE names for integers).
  std::string format(const attribute& attr) const;

  /// Name of an attribute, or "Attr-<vendor>-<type>" when unknown.
  std::string name_of(const attribute& attr) const;

  /// Number of attributes, values and vendors read (for diagnostics).
  size_t attribute_count() const;
  size_t value_count() const;
  size_t vendor_count() const;

  /// Number of files read.
  size_t file_count() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::radius
