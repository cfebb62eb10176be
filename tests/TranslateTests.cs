using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

public unsafe class TranslateTests
{
    [Fact]
    public void EveryGfnOfEverySlot_TranslatesToItsHvaAndPrivatePage()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd(64 << 12);
        Assert.Equal(0, vm.V1(0, 0, 0, 16 << 12, 0x100000000));
        Assert.Equal(0, vm.V1(1, 2, 32 << 12, 8 << 12, 0x200000000));
        Assert.Equal(0, vm.Ext(2, 4, 100 << 12, 4 << 12, 0x300000000, offset: 8 << 12, fd: fd));
        Ffi.close(fd);
        for (ulong gfn = 0; gfn < 200; gfn++)
        {
            int r = vm.Translate(gfn, out HvrtTranslation t);
            (uint slot, ulong b, ulong n, ulong hva, uint flags) = gfn switch
            {
                < 16 => (0u, 0UL, 16UL, 0x100000000UL, 0u),
                >= 32 and < 40 => (1u, 32UL, 8UL, 0x200000000UL, HvrtTranslation.FlagReadonly),
                >= 100 and < 104 => (2u, 100UL, 4UL, 0x300000000UL, HvrtTranslation.FlagHasPrivate),
                _ => (uint.MaxValue, 0UL, 0UL, 0UL, 0u),
            };
            if (slot == uint.MaxValue)
            {
                Assert.Equal(E.ENOENT, r);
                continue;
            }
            Assert.Equal(0, r);
            Assert.Equal(slot, t.Slot);
            Assert.Equal(b, t.BaseGfn);
            Assert.Equal(n, t.NPages);
            Assert.Equal(hva + (gfn - b) * 4096, t.Hva);
            Assert.Equal(flags, t.Flags);
            Assert.Equal(b + n - gfn, t.RunPages);
            Assert.Equal(0, t.Result);
            if (slot == 2)
            {
                Assert.Equal(8 + gfn - b, t.PrivatePgoff);
                Assert.True(Ffi.FdOpen(t.PrivateFd), "the reported private fd is hvrt's open duplicate");
            }
            else
            {
                Assert.Equal(-1, t.PrivateFd);
                Assert.Equal(0UL, t.PrivatePgoff);
            }
        }
    }

    [Fact]
    public void BadArguments_AreRefused_AndOutIsUntouched()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 0x1000));
        HvrtTranslation t = default;
        t.Slot = 0xdead;
        Assert.Equal(E.EINVAL, Ffi.Translate(vm.Handle, 2, 0, &t));
        Assert.Equal(E.EFAULT, Ffi.Translate(vm.Handle, 0, 0, null));
        Assert.Equal(E.EFAULT, Ffi.Translate(null, 0, 0, &t));
        Assert.Equal(E.ENOENT, Ffi.Translate(vm.Handle, 0, 1, &t));
        Assert.Equal(0xdeadu, t.Slot);
        byte* junk = stackalloc byte[64];
        new Span<byte>(junk, 64).Clear();
        Assert.Equal(E.EBADF, Ffi.Translate((Hvrt.Machine.VmHandle*)junk, 0, 0, &t));
    }

    [Fact]
    public void Translate_AllocatesNothing()
    {
        using var vm = new TestVm();
        for (uint i = 0; i < 64; i++)
        {
            Assert.Equal(0, vm.V1(i, 0, (ulong)i << 24, 1 << 20, 0x100000000UL + ((ulong)i << 24)));
        }
        HvrtTranslation t;
        var rng = new Random(1);
        ulong[] gfns = new ulong[4096];
        for (int i = 0; i < gfns.Length; i++)
        {
            gfns[i] = (ulong)rng.NextInt64(0, 64L << 12);
        }
        Ffi.Translate(vm.Handle, 0, 0, &t); // first call: JIT and thread attach
        long before = GC.GetAllocatedBytesForCurrentThread();
        int hits = 0;
        for (int round = 0; round < 25; round++)
        {
            foreach (ulong g in gfns)
            {
                hits += Ffi.Translate(vm.Handle, 0, g, &t) == 0 ? 1 : 0;
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(hits > 0 && hits < 25 * gfns.Length);
    }
}
