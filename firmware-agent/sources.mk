# firmware-agent/sources.mk - which sources are the agent, for any makefile run
# from the repository root (firmware-agent/Makefile, the Cortex-M size build).
#
# PA_AGENT_SRC: the agent logic (C99, heap-free, PSA only): what goes on a device.
# PA_SMP_SRC:   optional modules beside the agent (same rules, measured apart by
#               `make size-smp`): keys made on the device and their CSRs (keygen/),
#               SMP over the console (smp/).
# PA_LINK_SRC:  framing of an application's link (link/: SLIP for datagrams on a
#               UART, the TLS image's DTLS; same rules, in libpa for its tests).
# PA_ITS_SRC:   PSA Internal Trusted Storage on a NOR flash (its/, same rules):
#               what a board without a secure partition links for psa_its_*.
# PA_DEVICE_PORT_SRC: the port of a PSA device (storage over psa_its_*): the
#               firmware image's (firmware-agent/Makefile `firmware`), not the host's.
# PA_HOST_SRC:  host ports (directory storage, power-cut injection, the NOR flash
#               model): not on a device.
# PA_TRUST_SRC: the trust module the agent calls to check a trust-store entry
#               (trust/pa_trust_check.h; Mbed TLS bignum): linked beside the agent,
#               outside its size budget.  pa_trust.c reads with verify/pa_cbor.c,
#               which PA_AGENT_SRC brings (link both).
PA_AGENT_SRC := $(sort $(wildcard firmware-agent/core/*.c firmware-agent/verify/*.c \
                  firmware-agent/store/*.c firmware-agent/receipt/*.c))
PA_SMP_SRC   := $(sort $(wildcard firmware-agent/keygen/*.c firmware-agent/smp/*.c))
PA_LINK_SRC  := $(sort $(wildcard firmware-agent/link/*.c))
PA_ITS_SRC   := $(sort $(wildcard firmware-agent/its/*.c))
PA_DEVICE_PORT_SRC := firmware-agent/port/pa_port_its.c
PA_HOST_SRC  := $(filter-out $(PA_DEVICE_PORT_SRC),$(sort $(wildcard firmware-agent/port/*.c)))
PA_TRUST_SRC := firmware-agent/trust/pa_trust.c firmware-agent/trust/pa_trust_check.c
PA_INCLUDES  := -Ifirmware-agent/include -Ifirmware-agent
