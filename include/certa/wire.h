/* wire: byte order of every encoded field, for the engine, the network
 * code and integrators decoding certa's formats.
 *
 * Every integer certa writes to disk or the network is little-endian
 * (docs/PROTOCOL.md), except inside SHA-256 (big-endian lengths and words).
 * These helpers are the only place that knows it: each loads or stores
 * exactly 2, 4 or 8 bytes at p, which need not be aligned, through memcpy
 * (one move on x86 and ARM) and a byte swap on big-endian hosts only.
 */
#ifndef CERTA_WIRE_H
#define CERTA_WIRE_H

#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__) || \
    !defined(__ORDER_BIG_ENDIAN__)
#error "wire.h needs the compiler's __BYTE_ORDER__ (GCC or clang)"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CERTA_WIRE_LE16(v) (v)
#define CERTA_WIRE_LE32(v) (v)
#define CERTA_WIRE_LE64(v) (v)
#define CERTA_WIRE_BE32(v) __builtin_bswap32(v)
#define CERTA_WIRE_BE64(v) __builtin_bswap64(v)
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CERTA_WIRE_LE16(v) __builtin_bswap16(v)
#define CERTA_WIRE_LE32(v) __builtin_bswap32(v)
#define CERTA_WIRE_LE64(v) __builtin_bswap64(v)
#define CERTA_WIRE_BE32(v) (v)
#define CERTA_WIRE_BE64(v) (v)
#else
#error "wire.h: mixed-endian hosts are not supported"
#endif

/* ---- little-endian: the format of every certa field ---- */

static inline void certa_put_le16(uint8_t *p, uint16_t v)
{
    v = CERTA_WIRE_LE16(v);
    memcpy(p, &v, sizeof v);
}

static inline void certa_put_le32(uint8_t *p, uint32_t v)
{
    v = CERTA_WIRE_LE32(v);
    memcpy(p, &v, sizeof v);
}

static inline void certa_put_le64(uint8_t *p, uint64_t v)
{
    v = CERTA_WIRE_LE64(v);
    memcpy(p, &v, sizeof v);
}

static inline uint16_t certa_get_le16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return CERTA_WIRE_LE16(v);
}

static inline uint32_t certa_get_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return CERTA_WIRE_LE32(v);
}

static inline uint64_t certa_get_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return CERTA_WIRE_LE64(v);
}

/* ---- big-endian: SHA-256 words and message lengths only ---- */

static inline void certa_put_be32(uint8_t *p, uint32_t v)
{
    v = CERTA_WIRE_BE32(v);
    memcpy(p, &v, sizeof v);
}

static inline void certa_put_be64(uint8_t *p, uint64_t v)
{
    v = CERTA_WIRE_BE64(v);
    memcpy(p, &v, sizeof v);
}

#endif
