/* ss_bytes.h: little-endian reads and writes (internal to the library). */
#ifndef SS_BYTES_H
#define SS_BYTES_H

#include <stdint.h>

#define SS_BYTE_BITS 8u
#define SS_BYTE_MASK 0xFFu

static inline void ss_put_u8(uint8_t *p, uint8_t v)
{
    p[0] = v;
}

static inline void ss_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & SS_BYTE_MASK);
    p[1] = (uint8_t)(v >> SS_BYTE_BITS);
}

static inline void ss_put_u32(uint8_t *p, uint32_t v)
{
    ss_put_u16(p, (uint16_t)(v & 0xFFFFu));
    ss_put_u16(p + 2, (uint16_t)(v >> (2u * SS_BYTE_BITS)));
}

static inline void ss_put_u64(uint8_t *p, uint64_t v)
{
    ss_put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    ss_put_u32(p + 4, (uint32_t)(v >> (4u * SS_BYTE_BITS)));
}

static inline uint8_t ss_get_u8(const uint8_t *p)
{
    return p[0];
}

static inline uint16_t ss_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << SS_BYTE_BITS));
}

static inline uint32_t ss_get_u32(const uint8_t *p)
{
    return (uint32_t)ss_get_u16(p) | ((uint32_t)ss_get_u16(p + 2) << (2u * SS_BYTE_BITS));
}

static inline uint64_t ss_get_u64(const uint8_t *p)
{
    return (uint64_t)ss_get_u32(p) | ((uint64_t)ss_get_u32(p + 4) << (4u * SS_BYTE_BITS));
}

#endif /* SS_BYTES_H */
