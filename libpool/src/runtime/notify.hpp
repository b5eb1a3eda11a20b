#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the Unix
// socket named by $NOTIFY_SOCKET ("@name" is in the abstract namespace). Nothing is sent when
// the variable is unset, so sluice run by hand, by tests or in a container is unaffected.

#include <string_view>

namespace sluice {

/// Sends `state` ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1"); a failure is
/// logged once at debug level and otherwise ignored, as systemd's own client does.
void notify_service_manager(std::string_view state) noexcept;

/// "RELOADING=1" with the MONOTONIC_USEC systemd 253+ asks for.
void notify_reloading() noexcept;

}  // namespace sluice
