#include "adapters/radius/protocol/dictionary.hpp"
#include "adapters/radius/protocol/packet.hpp"

#include <cstdlib>
#include <gtest/gtest.h>
#include <memory>
#include <random>

using namespace ispflow::adapters::radius;

namespace {

// Each buffer is copied into an exactly sized heap block so that
// AddressSanitizer flags any read past it.
template <class F>
void with_exact_buffer(const std::vector<uint8_t>& bytes, F f) {
  auto block
    = std::make_unique<uint8_t[]>(bytes.size() + (bytes.empty() ? 1 : 0));
  std::copy(bytes.begin(), bytes.end(), block.get());
  f(std::span<const uint8_t>{block.get(), bytes.size()});
}

size_t iterations() {
  if (const char* env = std::getenv("ISPFLOW_RADIUS_FUZZ_ITERATIONS"))
    return std::strtoul(env, nullptr, 10);
  return 200000;
}

std::vector<uint8_t> seed_packet(std::mt19937& rng) {
  packet p;
  p.code = code::coa_request;
  p.identifier = static_cast<uint8_t>(rng());
  p.add(attribute::text(attr::user_name, "user42"));
  p.add(attribute::text(8, "10M/25M", 14988));
  p.add(attribute::u32(300, 1, 8164));
  p.add(attribute::text(1, "abc", 429));
  p.add(attribute::text(attr::proxy_state, "ps"));
  vendor_format_fn f = [](uint32_t v) {
    return v == 8164  ? vendor_format{2, 2}
           : v == 429 ? vendor_format{4, 0}
                      : vendor_format{};
  };
  return *encode_request(p, "secret", f);
}

} // namespace

TEST(radius_decoder_fuzz,
     survives_mutated_and_random_buffers_without_reading_past_them) {
  std::mt19937 rng(12345);
  vendor_format_fn formats = [](uint32_t v) {
    switch (v % 4) {
      case 0:
        return vendor_format{2, 2};
      case 1:
        return vendor_format{4, 0};
      case 2:
        return vendor_format{1, 0};
      default:
        return vendor_format{};
    }
  };
  size_t decoded = 0;
  size_t rejected = 0;
  auto n = iterations();
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint8_t> buf;
    if (i % 3 == 0) {
      buf.resize(rng() % 200);
      for (auto& b : buf)
        b = static_cast<uint8_t>(rng());
      if (buf.size() >= 4 && rng() % 2) {
        buf[2] = static_cast<uint8_t>(buf.size() >> 8);
        buf[3] = static_cast<uint8_t>(buf.size());
      }
    } else {
      buf = seed_packet(rng);
      auto flips = 1 + rng() % 6;
      for (size_t k = 0; k < flips; ++k) {
        switch (rng() % 4) {
          case 0:
            buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
            break;
          case 1:
            buf.resize(rng() % (buf.size() + 1));
            break;
          case 2:
            buf.push_back(static_cast<uint8_t>(rng()));
            break;
          default:
            if (!buf.empty())
              buf[rng() % buf.size()] ^= static_cast<uint8_t>(1u
                                                              << (rng() % 8));
        }
        if (buf.empty())
          break;
      }
    }
    with_exact_buffer(buf, [&](std::span<const uint8_t> s) {
      auto p = i % 2 ? decode(s, formats) : decode(s);
      if (p) {
        ++decoded;
        // Whatever decodes must re-encode within bounds or fail cleanly.
        auto again = encode_raw(*p, formats);
        if (again) {
          EXPECT_LE(again->size(), max_packet_size);
        }
      } else {
        ++rejected;
      }
      auto authv = authenticator{};
      (void) verify_request(s, "secret", true);
      (void) verify_response(s, authv, "secret", true);
    });
  }
  EXPECT_GT(decoded, n / 20);
  EXPECT_GT(rejected, n / 20);
  std::printf("decoded %zu, rejected %zu of %zu buffers\n", decoded, rejected,
              n);
}
