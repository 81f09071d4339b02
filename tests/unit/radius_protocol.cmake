# Unit tests of ispflow::radius_protocol (dictionary, codec, authenticators)
# and of the CoA client against an in-test responder.
ispflow_add_gtest(NAME radius_packet_test
                  SOURCES unit/radius_packet_test.cpp
                  LIBS ispflow::radius_protocol
                  LABELS unit)
ispflow_add_gtest(NAME radius_dictionary_test
                  SOURCES unit/radius_dictionary_test.cpp
                  LIBS ispflow::radius_protocol
                  LABELS unit)
ispflow_add_gtest(NAME radius_decoder_fuzz_test
                  SOURCES unit/radius_decoder_fuzz_test.cpp
                  LIBS ispflow::radius_protocol
                  LABELS unit)
ispflow_add_gtest(NAME radius_coa_client_test
                  SOURCES unit/radius_coa_client_test.cpp
                  LIBS ispflow::radius_protocol
                  LABELS unit)
# The username and password rules, hashed storage as the default and the
# per-NAS Message-Authenticator setting (issues 12 and 14).
ispflow_add_gtest(NAME radius_credentials_test
                  SOURCES unit/radius_credentials_test.cpp
                  LIBS ispflow::radius ispflow::common
                  LABELS unit)
