# relay_smoke: sekisho-relayd end to end in namespaces (tests/relay/smoke.sh).
# Include from tests/relay/CMakeLists.txt (after its SEKISHO_NETNS_TESTS guard).
add_test(NAME relay_smoke COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/smoke.sh
	$<TARGET_FILE:sekisho> $<TARGET_FILE:sekisho-relayd>)
set_tests_properties(relay_smoke PROPERTIES LABELS netns TIMEOUT 300 RUN_SERIAL TRUE
	RESOURCE_LOCK sekisho_netns_relay SKIP_RETURN_CODE 77)
