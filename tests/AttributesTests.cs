using System;
using System.Collections.Generic;
using Hvrt.Abi;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Memory attributes against brute-force models: a bool per page over small domains (every page,
/// every 2 MiB / 1 GiB frame), an interval list over the whole 2^52-gfn space. There is no
/// differential test against /dev/kvm: this project's host KVM does not support
/// KVM_SET_MEMORY_ATTRIBUTES for any VM type (design.md), so the rules follow the kernel source.
/// </summary>
public unsafe class AttributesTests
{
    private const ulong P = AttrFfi.Private;
    private const ulong Chunk = 1UL << 18;
    private const ulong Space = 1UL << 52;

    private static TestVm PrivateVm() => new(new HvrtVmConfig { VmType = 1 });

    /// <summary>A bool per page over [Base, Base + Len); pages outside are shared.</summary>
    private sealed class DenseModel
    {
        public DenseModel(ulong b, ulong len)
        {
            Base = b;
            Bits = new bool[len];
        }

        public ulong Base { get; }
        public bool[] Bits { get; }
        public ulong End => Base + (ulong)Bits.Length;

        public bool Get(ulong g) => g >= Base && g < End && Bits[g - Base];

        public void Set(ulong s, ulong e, bool v)
        {
            for (ulong g = s; g < e; g++)
            {
                Bits[g - Base] = v;
            }
        }

        public bool Uniform(ulong s, ulong n)
        {
            bool first = Get(s);
            for (ulong g = s; g < s + n; g++)
            {
                if (Get(g) != first)
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>kvm_range_has_memory_attributes by brute force (supported = PRIVATE).</summary>
        public bool RangeHas(ulong start, ulong end, ulong mask, ulong attrs)
        {
            mask &= P;
            if ((attrs & ~mask) != 0)
            {
                return false;
            }
            if (end == start + 1)
            {
                return ((Get(start) ? P : 0) & mask) == attrs;
            }
            if (attrs == 0)
            {
                ulong last = end - 1;
                for (ulong g = start; g <= last && g < End; g++)
                {
                    if (Get(g))
                    {
                        return false;
                    }
                }
                return true;
            }
            for (ulong g = start; g < end; g++)
            {
                if (!Get(g))
                {
                    return false;
                }
            }
            return true;
        }
    }

    [Fact]
    public void DenseDomain_RandomChanges_MatchBoolPerPage_WithFrameSummaries()
    {
        using var vm = PrivateVm();
        AttributeStore store = AttrFfi.Store(vm.Handle);
        // Three chunk boundaries and the 2 MiB frames around them; some frames stick out of the domain.
        var m = new DenseModel(Chunk - 1000, 3 * Chunk + 2000);
        var rng = new Random(12345);
        for (int op = 0; op < 300; op++)
        {
            ulong s = m.Base + (ulong)rng.NextInt64(0, m.Bits.Length);
            ulong len = rng.Next(5) switch
            {
                0 => (ulong)rng.Next(1, 17),
                1 => (ulong)rng.Next(1, 1100),
                2 => 512UL * (ulong)rng.Next(1, 8) + (ulong)rng.Next(-3, 4),
                3 => Chunk + (ulong)rng.Next(-600, 600),
                _ => (ulong)rng.NextInt64(1, m.Bits.Length),
            };
            ulong e = Math.Min(s + Math.Max(len, 1), m.End);
            bool v = rng.Next(3) != 0;
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, s, e - s, v));
            m.Set(s, e, v);
            for (ulong g = s >= 600 ? s - 600 : 0; g < e + 600; g += 7)
            {
                Assert.Equal(m.Get(g) ? P : 0, AttrFfi.Get(vm.Handle, g));
            }
            Assert.Equal(m.Get(s) ? P : 0, AttrFfi.Get(vm.Handle, s));
            Assert.Equal(m.Get(e - 1) ? P : 0, AttrFfi.Get(vm.Handle, e - 1));
            if (op % 20 == 19)
            {
                CheckEverything(vm, store, m, rng);
            }
        }
        CheckEverything(vm, store, m, rng);
    }

    private static void CheckEverything(TestVm vm, AttributeStore store, DenseModel m, Random rng)
    {
        for (ulong g = m.Base - 600; g < m.End + 600; g++)
        {
            Assert.True(m.Get(g) == (store.Get(g) == P), $"gfn {g:x}");
        }
        for (ulong f = m.Base >> 9; f <= (m.End - 1) >> 9; f++)
        {
            Assert.True(!m.Uniform(f << 9, 512) == store.Mixed2M(f << 9), $"2M frame {f:x}");
        }
        for (ulong c = m.Base >> 18; c <= (m.End - 1) >> 18; c++)
        {
            Assert.True(!m.Uniform(c << 18, Chunk) == store.Mixed1G((c << 18) + 5), $"1G frame {c:x}");
        }
        ulong total = 0;
        foreach (bool b in m.Bits)
        {
            total += b ? 1UL : 0;
        }
        Assert.Equal(total, store.CountPrivate(0, Space));
        Assert.Equal(total, store.CountPrivate(0, ulong.MaxValue));
        for (int i = 0; i < 200; i++)
        {
            ulong s = m.Base - 10 + (ulong)rng.NextInt64(0, m.Bits.Length + 20);
            ulong e = rng.Next(4) switch
            {
                0 => s + (ulong)rng.Next(0, 3),
                1 => s + (ulong)rng.Next(0, 2000),
                2 => rng.Next(2) == 0 ? 0 : s - 1,
                _ => m.Base + (ulong)rng.NextInt64(0, m.Bits.Length + 10),
            };
            ulong[] masks = { 0, P, ~0UL, 1, P | 1 };
            ulong[] attrs = { 0, P, 1, P | 1 };
            ulong mask = masks[rng.Next(masks.Length)], a = attrs[rng.Next(attrs.Length)];
            Assert.True(m.RangeHas(s, e, mask, a) == (AttrFfi.RangeHas(vm.Handle, s, e, mask, a) == 1), $"range_has({s:x}, {e:x}, {mask:x}, {a:x})");
            if (e > s)
            {
                ulong cnt = 0;
                for (ulong g = s; g < e; g++)
                {
                    cnt += m.Get(g) ? 1UL : 0;
                }
                Assert.Equal(cnt, store.CountPrivate(s, e));
                bool v = rng.Next(2) == 0;
                ulong nd = s;
                while (nd < e && m.Get(nd) == v)
                {
                    nd++;
                }
                Assert.Equal(nd, store.NextDiffering(s, e, v));
            }
        }
        // Runs cover the domain exactly, alternate, and agree with every page.
        ulong gfn = m.Base - 100, end = m.End + 100, prevEnd = gfn;
        ulong? prevAttrs = null;
        for (ulong runStart = gfn; store.NextRun(ref gfn, end, out ulong runEnd, out ulong at); runStart = gfn)
        {
            Assert.Equal(prevEnd, runStart);
            Assert.True(runEnd > runStart && gfn == runEnd);
            Assert.NotEqual(prevAttrs, at);
            for (ulong g = prevEnd; g < runEnd; g += 97)
            {
                Assert.Equal(m.Get(g) ? P : 0, at);
            }
            Assert.Equal(m.Get(runEnd - 1) ? P : 0, at);
            prevAttrs = at;
            prevEnd = runEnd;
        }
        Assert.Equal(end, prevEnd);
    }

    [Fact]
    public void SparseSpace_HugeRanges_MatchIntervalModel_WithoutMemoryPerPage()
    {
        using var vm = PrivateVm();
        AttributeStore store = AttrFfi.Store(vm.Handle);
        var m = new IntervalModel();
        var rng = new Random(777);
        ulong baseBytes = store.AllocatedBytes;
        ulong Anchor()
        {
            ulong k = (ulong)rng.NextInt64(0, 1L << 30);
            ulong near = (ulong)rng.Next(-700, 700);
            return rng.Next(7) switch
            {
                0 => (ulong)rng.NextInt64(0, (long)Space),
                1 => ((k & ((1UL << 34) - 1)) << 18) + near,
                2 => ((k & ((1UL << 22) - 1)) << 30) + near,
                3 => ((k & 4095) << 40) + near,
                4 => Space - 1 - (ulong)rng.Next(1, 3000),
                5 => (k & 0xffff) << 9,
                _ => (ulong)rng.NextInt64(0, 1L << 34),
            } & (Space - 1);
        }
        for (int op = 0; op < 200; op++)
        {
            ulong s = Math.Min(Anchor(), Space - 2);
            ulong len = rng.Next(7) switch
            {
                0 => (ulong)rng.Next(1, 4),
                1 => 512 + (ulong)rng.Next(-2, 3),
                2 => Chunk + (ulong)rng.Next(-2, 3),
                3 => (1UL << 30) + (ulong)rng.Next(0, 100000),
                4 => 1UL << 34,
                5 => Space,
                _ => (ulong)rng.NextInt64(1, 1L << 40),
            };
            // address + size must not wrap: the last nameable page is 2^52 - 2.
            ulong e = Math.Min(s + len, Space - 1);
            bool v = rng.Next(2) == 0;
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, s, e - s, v));
            m.Set(s, e, v);
            // Not memory per page: at most two chunks and four nodes per change.
            Assert.True(store.AllocatedBytes - baseBytes <= (ulong)(op + 1) * (2 * (32768 + 128) + 4 * 16384),
                $"{store.AllocatedBytes} bytes after {op + 1} changes");
            var points = new List<ulong> { s, e - 1, e, s - 1 };
            foreach (var (rs, re) in m.Runs)
            {
                points.Add(rs);
                points.Add(rs - 1);
                points.Add(re);
                points.Add(re - 1);
            }
            for (int i = 0; i < 50; i++)
            {
                points.Add(Anchor());
            }
            foreach (ulong g in points)
            {
                if (g < Space)
                {
                    Assert.True(m.Get(g) == (AttrFfi.Get(vm.Handle, g) == P), $"gfn {g:x} after op {op}");
                }
            }
            Assert.Equal(m.Count(0, Space), store.CountPrivate(0, Space));
            for (int i = 0; i < 20; i++)
            {
                ulong a = Anchor(), b = a + (ulong)rng.NextInt64(0, 1L << 36);
                Assert.Equal(m.Count(a, b), store.CountPrivate(a, b));
                bool want = rng.Next(2) == 0;
                Assert.Equal(m.NextDiffering(a, Math.Min(b, Space), want), store.NextDiffering(a, Math.Min(b, Space), want));
                int has = AttrFfi.RangeHas(vm.Handle, a, b, P, want ? P : 0);
                bool expect = b <= a || (want ? m.NextDiffering(a, b, true) == b && b <= Space : m.Count(a, b) == 0);
                Assert.True(expect == (has == 1), $"range_has({a:x}, {b:x}, {want}) = {has}");
            }
        }
        // Everything shared again: the answer for the whole space in O(chunks touched).
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 0, Space - 1, false));
        Assert.Equal(0UL, store.CountPrivate(0, Space));
        Assert.Equal(1, AttrFfi.RangeHas(vm.Handle, 0, 0, P, 0));
    }

    [Fact]
    public void WholeSpace_PrivateAndBack_CostsNoMemory()
    {
        using var vm = PrivateVm();
        AttributeStore store = AttrFfi.Store(vm.Handle);
        ulong before = store.AllocatedBytes;
        Assert.Equal(0, AttrFfi.Set(vm.Handle, 0, 0xfffffffffffff000UL, P));
        // Sentinels everywhere but on the path to gfn 2^52 - 1, which no request can name.
        Assert.True(store.AllocatedBytes - before <= 32768 + 128 + 2 * 16384, $"{store.AllocatedBytes - before}");
        Assert.Equal(Space - 1, store.CountPrivate(0, Space));
        Assert.Equal(1, AttrFfi.RangeHas(vm.Handle, 0, Space - 1, P, P));
        Assert.Equal(0, AttrFfi.RangeHas(vm.Handle, 0, Space, P, P));
        Assert.Equal(P, AttrFfi.Get(vm.Handle, Space - 2));
        Assert.Equal(0UL, AttrFfi.Get(vm.Handle, Space - 1));
        Assert.False(store.Mixed1G(12345UL << 18));
        Assert.True(store.Mixed1G(Space - 1));
        Assert.True(store.Mixed2M(Space - 1));
        Assert.Equal(0, AttrFfi.Set(vm.Handle, 0, 0xfffffffffffff000UL, 0));
        Assert.Equal(0UL, store.CountPrivate(0, Space));
        Assert.False(store.Mixed1G(Space - 1));
    }

    [Fact]
    public void InvalidRequests_AreRefusedInKernelOrder_AndChangeNothing()
    {
        using var vm = PrivateVm();
        AttributeStore store = AttrFfi.Store(vm.Handle);
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 100, 50, true));
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, Chunk - 3, 10, true));
        ulong count = store.CountPrivate(0, Space), bytes = store.AllocatedBytes;
        (ulong a, ulong s, ulong at, ulong f, int want)[] cases =
        {
            (0, 0, 0, 1, E.EINVAL),                        // flags first
            (1, 0, 1, 1, E.EINVAL),
            (0, 4096, 1, 0, E.EINVAL),                     // RWX bits are not supported
            (0, 4096, 4, 0, E.EINVAL),
            (0, 4096, P | 16, 0, E.EINVAL),
            (0, 4096, 1UL << 63, 0, E.EINVAL),
            (0, 0, P, 0, E.EINVAL),                        // size 0
            (4096, 0, 0, 0, E.EINVAL),
            (0xfffffffffffff000, 4096, P, 0, E.EINVAL),    // wraps exactly to 0
            (0xfffffffffffff000, 0x2000, 0, 0, E.EINVAL),
            (1UL << 63, 1UL << 63, P, 0, E.EINVAL),
            (0x800, 0x1000, P, 0, E.EINVAL),               // alignment last
            (0x1000, 0x800, P, 0, E.EINVAL),
            (0x1001, 0x1001, 0, 0, E.EINVAL),
        };
        foreach (var (a, s, at, f, want) in cases)
        {
            Assert.Equal(want, AttrFfi.Set(vm.Handle, a, s, at, f));
        }
        Assert.Equal(E.EFAULT, AttrFfi.Set(vm.Handle, null));
        Assert.Equal(E.EFAULT, AttrFfi.Set(null, null));
        Assert.Equal(count, store.CountPrivate(0, Space));
        Assert.Equal(bytes, store.AllocatedBytes);
        ulong v = 0x5a;
        Assert.Equal(E.EFAULT, AttrFfi.Get(vm.Handle, 100, null));
        Assert.Equal(E.EFAULT, AttrFfi.Get(null, 100, &v));
        Assert.Equal(0x5aUL, v);
        Assert.Equal(E.EFAULT, AttrFfi.RangeHas(null, 0, 1, P, P));
        Assert.Equal(E.EFAULT, AttrFfi.MaxLevel(null, 0, 0));
        Assert.Equal(E.EINVAL, AttrFfi.MaxLevel(vm.Handle, 1, 0));
        Assert.Equal(E.ENOENT, AttrFfi.MaxLevel(vm.Handle, 0, 0));
        byte* junk = stackalloc byte[64];
        new Span<byte>(junk, 64).Clear();
        var bad = (Hvrt.Machine.VmHandle*)junk;
        Assert.Equal(E.EBADF, AttrFfi.Set(bad, null));
        Assert.Equal(E.EBADF, AttrFfi.Get(bad, 0, &v));
        Assert.Equal(E.EBADF, AttrFfi.RangeHas(bad, 0, 1, 0, 0));
        Assert.Equal(E.EBADF, AttrFfi.MaxLevel(bad, 0, 0));
    }

    [Fact]
    public void RangesAcrossTheVmsMaxGfn_AreAccepted_AsByTheKernel()
    {
        // max_gpa_bits 36: the highest gfn is 2^24 - 1. KVM checks no slot and no MAXPHYADDR here.
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1, MaxGpaBits = 36 });
        const ulong Max = (1UL << 24) - 1;
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, Max - 9, 20, true));
        Assert.Equal(0UL, AttrFfi.Get(vm.Handle, Max - 10));
        Assert.Equal(P, AttrFfi.Get(vm.Handle, Max));
        Assert.Equal(P, AttrFfi.Get(vm.Handle, Max + 10));
        Assert.Equal(0UL, AttrFfi.Get(vm.Handle, Max + 11));
        Assert.Equal(1, AttrFfi.RangeHas(vm.Handle, Max - 9, Max + 11, P, P));
        Assert.Equal(20UL, AttrFfi.Store(vm.Handle).CountPrivate(0, Space));
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, Max + 1, 1UL << 40, false));
        Assert.Equal(10UL, AttrFfi.Store(vm.Handle).CountPrivate(0, Space));
    }

    [Theory]
    [InlineData(0u, false)]
    [InlineData(1u, true)]
    [InlineData(2u, false)]
    [InlineData(3u, false)]
    [InlineData(4u, true)]
    [InlineData(5u, true)]
    public void VmType_DecidesWhetherPrivateIsSupported(uint type, bool hasPrivate)
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = type });
        Assert.Equal(hasPrivate ? 0 : E.EINVAL, AttrFfi.Set(vm.Handle, 0x4000, 0x1000, P));
        Assert.Equal(hasPrivate ? P : 0, AttrFfi.Get(vm.Handle, 4));
        Assert.Equal(0, AttrFfi.Set(vm.Handle, 0x4000, 0x1000, 0));
        Assert.Equal(0UL, AttrFfi.Get(vm.Handle, 4));
        // The mask is ANDed with the supported attributes first.
        Assert.Equal(1, AttrFfi.RangeHas(vm.Handle, 4, 5, ~0UL, 0));
        Assert.Equal(hasPrivate ? 0 : E.EINVAL, AttrFfi.Set(vm.Handle, 0x4000, 0x1000, P));
        Assert.Equal(hasPrivate ? 1 : 0, AttrFfi.RangeHas(vm.Handle, 4, 5, ~0UL, P));
        Assert.Equal(hasPrivate ? 0 : 1, AttrFfi.RangeHas(vm.Handle, 4, 5, ~0UL, 0));
        Assert.Equal(0, AttrFfi.Set(vm.Handle, 0x4000, 0x1000, 0));
        Assert.Equal(0, AttrFfi.RangeHas(vm.Handle, 4, 9, 0, P));
        Assert.Equal(1, AttrFfi.RangeHas(vm.Handle, 4, 9, 0, 0));
    }

    private sealed record SlotDesc(ulong Base, ulong NPages, ulong Hva, bool Private, ulong Pgoff);

    [Fact]
    public void MaxMappingLevel_MatchesBruteForce()
    {
        using var vm = PrivateVm();
        int fd = Ffi.Memfd(8L << 30);
        var slots = new List<SlotDesc>
        {
            new(Chunk, Chunk + 1024, 0x100000000000, false, 0),                      // 1G-aligned, tail sticks out
            new(3 * Chunk + 256, Chunk + 1024, 0x200000000000 + (256 << 12), false, 0), // unaligned base, congruent hva
            new(5 * Chunk, Chunk, 0x300000000000, true, 512),                          // private, pgoff 2M-aligned only
            new(6 * Chunk, Chunk, 0x400000000000, true, 2 * Chunk),                    // private, everything aligned
            new(7 * Chunk, 4096, 0x500000001000, false, 0),                            // hva off by a page
            new(7 * Chunk + 8192, 2048, 0x600000000000 + (8192UL << 12) + (512 << 12), false, 0), // hva 2M-congruent, not 1G
        };
        for (int i = 0; i < slots.Count; i++)
        {
            SlotDesc d = slots[i];
            int r = d.Private
                ? vm.Ext((uint)i, 4, d.Base << 12, d.NPages << 12, d.Hva, d.Pgoff << 12, fd)
                : vm.V1((uint)i, 0, d.Base << 12, d.NPages << 12, d.Hva);
            Assert.True(r == 0, $"slot {i}: {r}");
        }
        Ffi.close(fd);
        var m = new DenseModel(Chunk - 600, 7 * Chunk + 1200);
        var rng = new Random(99);
        var seen = new HashSet<int>();
        for (int round = 0; round < 12; round++)
        {
            for (int op = 0; op < 6; op++)
            {
                ulong s = m.Base + (ulong)rng.NextInt64(0, m.Bits.Length);
                ulong len = rng.Next(3) switch { 0 => (ulong)rng.Next(1, 600), 1 => 512UL * (ulong)rng.Next(1, 600), _ => Chunk + (ulong)rng.Next(-600, 600) };
                ulong e = Math.Min(s + len, m.End);
                bool v = rng.Next(2) == 0;
                Assert.Equal(0, AttrFfi.SetPages(vm.Handle, s, e - s, v));
                m.Set(s, e, v);
            }
            // Uniformity of every 2M and 1G frame once per round (brute force over the pages).
            var uni2 = new Dictionary<ulong, bool>();
            var uni1 = new Dictionary<ulong, bool>();
            var gfns = new List<ulong>();
            foreach (SlotDesc d in slots)
            {
                gfns.Add(d.Base);
                gfns.Add(d.Base + d.NPages - 1);
                gfns.Add(d.Base + d.NPages);
                gfns.Add(d.Base - 1);
                for (int i = 0; i < 150; i++)
                {
                    gfns.Add(d.Base + (ulong)rng.NextInt64(0, (long)d.NPages));
                }
            }
            foreach (ulong g in gfns)
            {
                SlotDesc? d = slots.Find(x => g >= x.Base && g < x.Base + x.NPages);
                int want;
                if (d == null)
                {
                    want = E.ENOENT;
                }
                else
                {
                    want = 1;
                    foreach ((int level, int shift, Dictionary<ulong, bool> uni) in new[] { (2, 9, uni2), (3, 18, uni1) })
                    {
                        ulong n = 1UL << shift, frame = g & ~(n - 1);
                        bool fits = frame >= d.Base && frame + n <= d.Base + d.NPages
                            && ((d.Base ^ (d.Hva >> 12)) & (n - 1)) == 0
                            && (!d.Private || ((d.Base ^ d.Pgoff) & (n - 1)) == 0);
                        if (!fits)
                        {
                            break;
                        }
                        if (!uni.TryGetValue(frame, out bool u))
                        {
                            uni[frame] = u = m.Uniform(frame, n);
                        }
                        if (!u)
                        {
                            break;
                        }
                        want = level;
                    }
                }
                Assert.True(want == AttrFfi.MaxLevel(vm.Handle, 0, g), $"gfn {g:x}: want {want}, got {AttrFfi.MaxLevel(vm.Handle, 0, g)}");
                seen.Add(want);
            }
        }
        Assert.Equal(new HashSet<int> { E.ENOENT, 1, 2, 3 }, seen);
    }

    [Fact]
    public void Queries_AllocateNothing()
    {
        using var vm = PrivateVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 1UL << 31, 0x100000000000));
        var rng = new Random(5);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, (ulong)rng.NextInt64(0, 1L << 19), (ulong)rng.Next(1, 5000), rng.Next(2) == 0));
        }
        ulong[] gfns = new ulong[2048];
        for (int i = 0; i < gfns.Length; i++)
        {
            gfns[i] = (ulong)rng.NextInt64(0, 1L << 19);
        }
        ulong v;
        AttrFfi.Get(vm.Handle, 0, &v);
        AttrFfi.RangeHas(vm.Handle, 0, 100, P, 0);
        AttrFfi.MaxLevel(vm.Handle, 0, 0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long sum = 0;
        for (int round = 0; round < 10; round++)
        {
            foreach (ulong g in gfns)
            {
                sum += AttrFfi.Get(vm.Handle, g, &v) + (long)v;
                sum += AttrFfi.RangeHas(vm.Handle, g, g + 1000, P, round % 2 == 0 ? P : 0);
                sum += AttrFfi.MaxLevel(vm.Handle, 0, g);
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sum > 0);
    }
}

/// <summary>Readers walk the store without locks while a writer materializes, fills and empties nodes.</summary>
public unsafe class AttributesConcurrencyTests
{
    [Fact]
    public void Readers_SeeOnlyBeforeOrAfter_WhileAWriterToggles()
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1 });
        Hvrt.Machine.VmHandle* h = vm.Handle;
        Assert.Equal(0, vm.V1(0, 0, 0, 1UL << 32, 0x100000000000));
        const ulong P = AttrFfi.Private;
        // The writer flips [2^18 - 5, 3 * 2^18 + 5) whole (every page equal after each call) and
        // keeps gfn 7 private throughout; readers check that every answer is one of the two states.
        const ulong S = (1UL << 18) - 5, E_ = 3 * (1UL << 18) + 5;
        Assert.Equal(0, AttrFfi.SetPages(h, 7, 1, true));
        int stop = 0;
        long reads = 0;
        string? failure = null;
        var readers = new System.Threading.Thread[2];
        for (int t = 0; t < readers.Length; t++)
        {
            int seed = t;
            readers[t] = new System.Threading.Thread(() =>
            {
                var rng = new Random(seed);
                long n = 0;
                while (System.Threading.Volatile.Read(ref stop) == 0)
                {
                    ulong g = S + (ulong)rng.NextInt64(0, (long)(E_ - S));
                    ulong v = AttrFfi.Get(h, g);
                    int lvl = AttrFfi.MaxLevel(h, 0, g);
                    int has = AttrFfi.RangeHas(h, g, g + 3000, P, P);
                    if ((v != 0 && v != P) || lvl < 1 || lvl > 3 || has < 0 || AttrFfi.Get(h, 7) != P)
                    {
                        failure = $"gfn {g:x}: attrs {v}, level {lvl}, range_has {has}";
                        break;
                    }
                    n++;
                }
                System.Threading.Interlocked.Add(ref reads, n);
            });
            readers[t].Start();
        }
        var wr = new Random(42);
        for (int i = 0; i < 400; i++)
        {
            // Whole range, or a piece first so that chunks and nodes get materialized.
            if (wr.Next(3) == 0)
            {
                ulong a = S + (ulong)wr.NextInt64(0, (long)(E_ - S - 1));
                Assert.Equal(0, AttrFfi.SetPages(h, a, Math.Min(E_ - a, (ulong)wr.Next(1, 1 << 19)), wr.Next(2) == 0));
            }
            Assert.Equal(0, AttrFfi.SetPages(h, S, E_ - S, i % 2 == 0));
        }
        System.Threading.Volatile.Write(ref stop, 1);
        foreach (var t in readers)
        {
            t.Join();
        }
        Assert.Null(failure);
        Assert.True(reads > 0);
        Assert.Equal(P, AttrFfi.Get(h, 7));
        Assert.Equal(0UL, AttrFfi.Store(h).CountPrivate(S, E_));
        Assert.Equal(1, AttrFfi.MaxLevel(h, 0, 7));
        Assert.Equal(3, AttrFfi.MaxLevel(h, 0, 1UL << 18));
    }
}
