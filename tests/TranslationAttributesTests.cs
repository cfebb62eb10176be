using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Translations carry the attributes: HVRT_TR_PRIVATE for a private gfn, run_pages cut at the
/// first page whose attributes differ (and at 2^18 once the VM has private pages), through
/// hvrt_translate, the reader call and both batches, against a per-page model.
/// </summary>
public sealed unsafe class TranslationAttributesTests
{
    private const ulong Pages = 1UL << 20;      // one slot of 4 GiB at gfn 0x100000
    private const ulong Base = 0x100000;
    private const ulong LookAhead = 1UL << 18;

    [ThreadStatic]
    private static bool s_everPrivate;

    [Fact]
    public void PrivateFlagAndRunPages_FollowTheAttributes()
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1 });
        Assert.Equal(0, vm.V1(1, 0, Base << 12, Pages << 12));
        HvrtTranslation t;
        // No private page yet: the whole rest of the slot, even past 2^18.
        Assert.Equal(0, vm.Translate(Base, out t));
        Assert.Equal(Pages, t.RunPages);
        Assert.Equal(0u, t.Flags & HvrtTranslation.FlagPrivate);

        s_everPrivate = false;
        var model = new bool[Pages];
        var rng = new Random(3);
        ReaderRecord* reader;
        Assert.Equal(0, Ffi.ReaderRegister(vm.Handle, &reader));
        for (int round = 0; round < 40; round++)
        {
            ulong s = (ulong)rng.NextInt64(0, (long)Pages), n = (ulong)rng.Next(1, rng.Next(2) == 0 ? 600 : 300_000);
            n = Math.Min(n, Pages - s);
            bool p = rng.Next(3) != 0;
            Ffi.ReaderOffline(reader);
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, Base + s, n, p));
            Ffi.ReaderOnline(reader);
            Array.Fill(model, p, (int)s, (int)n);
            s_everPrivate |= p;

            var gfns = new ulong[64];
            for (int q = 0; q < 64; q++)
            {
                ulong off = rng.Next(2) == 0 ? (ulong)rng.NextInt64(0, (long)Pages) : Math.Min(s + (ulong)rng.Next(-3, 3) + (rng.Next(2) == 0 ? 0 : n), Pages - 1);
                gfns[q] = Base + off;
                (bool priv, ulong run) = Expected(model, off);
                Assert.Equal(0, vm.Translate(Base + off, out t));
                Check(t, priv, run, off);
                HvrtTranslation tr;
                Assert.Equal(0, Ffi.ReaderTranslate(reader, 0, Base + off, &tr));
                Check(tr, priv, run, off);
            }
            var outs = new HvrtTranslation[64];
            fixed (ulong* g = gfns)
            fixed (HvrtTranslation* o = outs)
            {
                Assert.Equal(64, Ffi.TranslateBatch(vm.Handle, 0, g, 64, o));
                for (int q = 0; q < 64; q++)
                {
                    (bool priv, ulong run) = Expected(model, gfns[q] - Base);
                    Check(o[q], priv, run, gfns[q] - Base);
                }
                Assert.Equal(64, Ffi.ReaderTranslateBatch(reader, 0, g, 64, o));
                for (int q = 0; q < 64; q++)
                {
                    (bool priv, ulong run) = Expected(model, gfns[q] - Base);
                    Check(o[q], priv, run, gfns[q] - Base);
                }
            }
        }
        Assert.Equal(0, Ffi.ReaderUnregister(reader));
    }

    private static (bool Private, ulong Run) Expected(bool[] model, ulong off)
    {
        bool p = model[off];
        // The cap applies once the VM has had a private page (before that, no store is consulted).
        ulong limit = s_everPrivate ? Math.Min(Pages - off, LookAhead) : Pages - off, run = 1;
        while (run < limit && model[off + run] == p)
        {
            run++;
        }
        return (p, run);
    }

    private static void Check(in HvrtTranslation t, bool priv, ulong run, ulong off)
    {
        Assert.True(((t.Flags & HvrtTranslation.FlagPrivate) != 0) == priv, $"private flag at +{off:x}");
        Assert.True(t.RunPages == run, $"run_pages at +{off:x}: {t.RunPages}, want {run}");
        Assert.Equal(Base + off, t.BaseGfn + (t.Hva - TestVm.Hva) / 4096);
    }
}
