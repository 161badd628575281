/* Tests for certa_gw_tile_path (tools/gateway_route.c): the gateway serves
 * a file of its tiles directory only for "/checkpoint" and the paths of
 * the C2SP tlog-tiles grammar, so nothing outside the layout (the state
 * file, "..", another level or width, a sloppy number) ever reaches open(). */
#include <criterion/criterion.h>

#include "gateway_route.h"

Test(gateway_tiles, takes_the_layout)
{
    static const char *ok[] = {
        "/checkpoint",
        "/tile/0/000",
        "/tile/0/005",
        "/tile/63/999",
        "/tile/1/x001/234",
        "/tile/0/x001/x234/067",
        "/tile/0/x018/x446/x744/x073/x709/x551/615", /* 7 elements: 2^64 - 1 */
        "/tile/entries/000",
        "/tile/entries/x001/000.p/1",
        "/tile/0/000.p/89",
        "/tile/2/000.p/255",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect(certa_gw_tile_path(ok[i]), "refused %s", ok[i]);
}

Test(gateway_tiles, refuses_the_rest)
{
    static const char *bad[] = {
        "/checkpoint/", "/checkpoints", "/.certa-tiles", "/tile/", "/tile/0", "/tile/0/",
        "/tile/0/00", "/tile/0/0000", "/tile/0/x000", "/tile/0/x000/", "/tile/0/000/",
        "/tile/00/000", "/tile/64/000", "/tile/-1/000", "/tile/entries", "/tile/entries/",
        "/tile/data/000", "/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/0/000.p/01",
        "/tile/0/000.p/", "/tile/0/000.p", "/tile/0/000.q/5", "/tile/0/../000",
        "/tile/0/000/../../.certa-tiles", "/tile//0/000", "/tile/0//000", "/tile/0/00a",
        "/tile/0/x001/x002/x003/x004/x005/x006/x007/008", /* 8 elements */
        "/tile/0/000.p/5/", "tile/0/000", "", "/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!certa_gw_tile_path(bad[i]), "took %s", bad[i]);
}
