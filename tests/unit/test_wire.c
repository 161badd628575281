/* Tests for include/certa/wire.h: the exact byte layout of every helper (least
 * significant byte first; SHA-256 words most significant first), unaligned
 * addresses, and that nothing outside the named bytes is written. */
#include <criterion/criterion.h>
#include <string.h>

#include "certa/wire.h"

Test(wire, little_endian_layout)
{
    uint8_t b[8];
    certa_put_le16(b, 0x0102u);
    cr_assert(b[0] == 0x02 && b[1] == 0x01);
    certa_put_le32(b, 0x01020304u);
    cr_assert(b[0] == 0x04 && b[1] == 0x03 && b[2] == 0x02 && b[3] == 0x01);
    certa_put_le64(b, 0x0102030405060708ull);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(b[i], 8 - i);

    const uint8_t in[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x81};
    cr_assert_eq(certa_get_le16(in), 0x0708u);
    cr_assert_eq(certa_get_le32(in), 0x05060708u);
    cr_assert_eq(certa_get_le64(in), 0x8102030405060708ull);
}

Test(wire, big_endian_layout)
{
    uint8_t b[8];
    certa_put_be32(b, 0x01020304u);
    cr_assert(b[0] == 0x01 && b[1] == 0x02 && b[2] == 0x03 && b[3] == 0x04);
    certa_put_be64(b, 0x0102030405060708ull);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(b[i], i + 1);
}

Test(wire, unaligned_round_trips_touch_only_their_bytes)
{
    uint8_t b[24];
    for (size_t off = 0; off < 8; off++) {
        memset(b, 0xAA, sizeof b);
        certa_put_le64(b + off, 0xF1E2D3C4B5A69788ull);
        cr_assert_eq(certa_get_le64(b + off), 0xF1E2D3C4B5A69788ull);
        cr_assert_eq(b[off + 8], 0xAA);
        if (off > 0)
            cr_assert_eq(b[off - 1], 0xAA);
        memset(b, 0xAA, sizeof b);
        certa_put_le32(b + off, 0xFEDCBA98u);
        cr_assert_eq(certa_get_le32(b + off), 0xFEDCBA98u);
        cr_assert_eq(b[off + 4], 0xAA);
        memset(b, 0xAA, sizeof b);
        certa_put_le16(b + off, 0xFFFEu);
        cr_assert_eq(certa_get_le16(b + off), 0xFFFEu);
        cr_assert_eq(b[off + 2], 0xAA);
    }
}
