/* Packet framing of the simulated VBD's control protocol (sim_proto.h). */
#ifndef XLMIG_SIM_WIRE_H
#define XLMIG_SIM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_proto.h"

/*
 * Sends one message, split into packets as needed.  fd_pass >= 0 is
 * attached (SCM_RIGHTS) to the first packet.  0 or -errno.
 */
int sim_wire_send(int fd, uint16_t type, int32_t status, const void *payload,
                  size_t len, int fd_pass);
/* An error reply whose payload is the formatted message. */
int sim_wire_send_error(int fd, uint16_t type, int status, const char *msg);

/*
 * Receives one packet into buf (SIM_MAX_PAYLOAD bytes).  Returns 1 with
 * *h, *len set; 0 at end of stream; -EBADMSG for a malformed packet (too
 * short, bad magic or version: *h is zeroed or partial), -EMSGSIZE for a
 * packet over SIM_MAX_PACKET, other -errno on socket errors.  A passed fd
 * lands in *fd_passed when fd_passed is non-NULL (else it is closed).
 */
int sim_wire_recv_packet(int fd, struct sim_hdr *h, void *buf, size_t *len,
                         int *fd_passed);

/*
 * Receives one whole message (all its packets) into a malloc'd *out (NULL
 * when empty).  Returns 1, 0 at end of stream, or -errno: -EMSGSIZE when
 * it exceeds max (the packets are consumed), -EBADMSG when malformed.
 */
int sim_wire_recv(int fd, struct sim_hdr *h, void **out, size_t *len,
                  size_t max, int *fd_passed);

#endif
