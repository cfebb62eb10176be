using System;
using System.Collections.Generic;
using System.Linq;
using Hvrt.Abi;
using Hvrt.Layout;
using Xunit;

namespace Hvrt.Tests.Support;

/// <summary>One slot as the brute-force model knows it.</summary>
internal sealed record ModelSlot(uint Slot, uint KvmFlags, ulong BaseGfn, ulong NPages, ulong Hva, int File, ulong Pgoff)
{
    public uint AsId => Slot >> 16;

    public ushort Id => (ushort)Slot;

    public bool IsPrivate => File >= 0;

    public ulong HvaEnd => Hva + (NPages << 12);

    public uint TrFlags => ((KvmFlags & 2) != 0 ? HvrtTranslation.FlagReadonly : 0)
                         | ((KvmFlags & 1) != 0 ? HvrtTranslation.FlagLogDirty : 0)
                         | ((KvmFlags & 4) != 0 ? HvrtTranslation.FlagHasPrivate : 0);
}

/// <summary>
/// A list of slots and the reverse queries computed by brute force from hvrt.h's formulas (KVM's
/// kvm_handle_hva_range and kvm_gmem_invalidate_begin), in hvrt.h's order.
/// </summary>
internal sealed class SlotModel
{
    public readonly Dictionary<uint, ModelSlot> Slots = new();
    private readonly List<uint> _list = new();
    private readonly Dictionary<uint, int> _at = new();

    public IEnumerable<ModelSlot> All => Slots.Values;

    /// <summary>A slot chosen uniformly (O(1)).</summary>
    public ModelSlot Random(Random rng) => Slots[_list[rng.Next(_list.Count)]];

    public void Put(ModelSlot s)
    {
        if (!Slots.ContainsKey(s.Slot))
        {
            _at[s.Slot] = _list.Count;
            _list.Add(s.Slot);
        }
        Slots[s.Slot] = s;
    }

    public void Remove(uint slot)
    {
        if (!Slots.Remove(slot))
        {
            return;
        }
        int i = _at[slot];
        uint last = _list[^1];
        _list[i] = last;
        _at[last] = i;
        _list.RemoveAt(_list.Count - 1);
        _at.Remove(slot);
    }

    public static (uint Slot, uint Flags, ulong Start, ulong End) Key(in HvrtSlotRange r) => (r.Slot, r.Flags, r.GfnStart, r.GfnEnd);

    public List<(uint Slot, uint Flags, ulong Start, ulong End)> ByHva(ulong hva, ulong len)
    {
        var res = new List<(uint, uint, ulong, ulong)>();
        if (len == 0)
        {
            return res;
        }
        ulong end = hva + len;
        foreach (ModelSlot s in All.Where(s => s.Hva < end && s.HvaEnd > hva).OrderBy(s => s.AsId).ThenBy(s => s.Hva).ThenBy(s => s.Slot))
        {
            ulong hs = Math.Max(hva, s.Hva), he = Math.Min(end, s.HvaEnd);
            res.Add((s.Slot, s.TrFlags, s.BaseGfn + ((hs - s.Hva) >> 12), s.BaseGfn + ((he + 4095 - s.Hva) >> 12)));
        }
        return res;
    }

    public List<(uint Slot, uint Flags, ulong Start, ulong End)> ByPrivate(int file, ulong offset, ulong len)
    {
        var res = new List<(uint, uint, ulong, ulong)>();
        if (len == 0)
        {
            return res;
        }
        // In 128-bit arithmetic, so the model cannot share an overflow with the code it checks.
        ulong first = offset >> 12;
        ulong end = (ulong)(((UInt128)offset + len + 4095) >> 12);
        foreach (ModelSlot s in All.Where(s => s.File == file && s.Pgoff < end && s.Pgoff + s.NPages > first).OrderBy(s => s.AsId).ThenBy(s => s.Pgoff))
        {
            res.Add((s.Slot, s.TrFlags, s.BaseGfn + Math.Max(s.Pgoff, first) - s.Pgoff, s.BaseGfn + Math.Min(s.Pgoff + s.NPages, end) - s.Pgoff));
        }
        return res;
    }

    /// <summary>The slot of as_id holding gfn, or null.</summary>
    public ModelSlot? Find(uint asId, ulong gfn) => All.FirstOrDefault(s => s.AsId == asId && gfn >= s.BaseGfn && gfn < s.BaseGfn + s.NPages);

    public bool FilePagesFree(int file, ulong pgoff, ulong npages)
        => !All.Any(s => s.File == file && s.Pgoff < pgoff + npages && s.Pgoff + s.NPages > pgoff);
}

/// <summary>
/// Drives an hvrt VM and a <see cref="SlotModel"/> with the same random changes: creates (v1,
/// region2 or, for private slots, _ext on a memfd or a dup of it), deletes, moves and dirty-log
/// toggles, single or batched (hvrt_set_user_memory_regions). Each slot id owns a window of gfns
/// so creates and moves never collide; host addresses are drawn from a small span so they
/// overlap a lot; private slots take free page ranges of a few memfds (an overlap is tried now
/// and then and must be refused with -EINVAL, the binding rule).
/// </summary>
internal sealed unsafe class RandomSlots : IDisposable
{
    public const ulong HvaBase = 0x7f0000000000;

    private readonly TestVm _vm;
    private readonly Random _rng;
    private readonly uint _nrAs;
    private readonly int _ids;
    private readonly ulong _window;
    private readonly ulong _maxPages;
    private readonly ulong _hvaSpanPages;
    private readonly ulong _filePages;
    private readonly double _privateShare;

    public RandomSlots(TestVm vm, int seed, uint nrAs, int idsPerAs, ulong windowPages, ulong maxPages, ulong hvaSpanPages, int files, ulong filePages, double privateShare)
    {
        _vm = vm;
        _rng = new Random(seed);
        _nrAs = nrAs;
        _ids = idsPerAs;
        _window = windowPages;
        _maxPages = maxPages;
        _hvaSpanPages = hvaSpanPages;
        _filePages = filePages;
        _privateShare = privateShare;
        Fds = new int[files];
        Dups = new int[files];
        for (int i = 0; i < files; i++)
        {
            Fds[i] = Ffi.Memfd((long)(filePages << 12));
            Dups[i] = Ffi.fcntl(Fds[i], 1030 /* F_DUPFD_CLOEXEC */, 3);
        }
    }

    public SlotModel Model { get; } = new();

    public int[] Fds { get; }

    public int[] Dups { get; }

    public Random Rng => _rng;

    public int Count => Model.Slots.Count;

    public ulong FileBytes => _filePages << 12;

    public ulong HvaSpanBytes => (_hvaSpanPages + _maxPages) << 12;

    public ulong GfnLimit => (ulong)_ids * _window;

    public void Dispose()
    {
        foreach (int fd in Fds.Concat(Dups))
        {
            Ffi.close(fd);
        }
    }

    private ulong RandomPages(ulong max)
    {
        ulong cap = Math.Min(max, _maxPages);
        double u = _rng.NextDouble();
        ulong hi = u < 0.5 ? Math.Min(cap, 16) : u < 0.85 ? Math.Min(cap, 256) : cap;
        return (ulong)_rng.NextInt64(1, (long)hi + 1);
    }

    private ulong RandomPosition(int id, ulong npages) => (ulong)id * _window + (ulong)_rng.NextInt64(0, (long)(_window - npages) + 1);

    private ulong RandomHva(ulong npages)
    {
        // Mostly inside one small span (heavy overlap); some far away, alone.
        if (_rng.Next(10) == 0)
        {
            return 0x100000000UL + ((ulong)_rng.NextInt64(0, 1 << 20) << 12);
        }
        return HvaBase + ((ulong)_rng.NextInt64(0, (long)_hvaSpanPages) << 12);
    }

    private uint RandomFreeSlot()
    {
        while (true)
        {
            uint slot = (uint)_rng.Next((int)_nrAs) << 16 | (uint)_rng.Next(_ids);
            if (!Model.Slots.ContainsKey(slot))
            {
                return slot;
            }
        }
    }

    private ModelSlot RandomSlot() => Model.Random(_rng);

    /// <summary>One random change, applied to hvrt and the model; asserts hvrt's return code.</summary>
    public void Step(double createBias = 0.5)
    {
        if (Model.Slots.Count == 0 || _rng.NextDouble() < createBias)
        {
            Create();
            return;
        }
        ModelSlot s = RandomSlot();
        int op = _rng.Next(3);
        if (s.IsPrivate && op != 0)
        {
            // Private slots are immutable: even an identical request is refused, and nothing changes.
            Assert.Equal(E.EINVAL, _vm.Ext(s.Slot, 4, s.BaseGfn << 12, s.NPages << 12, s.Hva, s.Pgoff << 12, Fds[s.File]));
            return;
        }
        switch (op)
        {
            case 0:
                Assert.Equal(0, _vm.V1(s.Slot, 0, 0, 0));
                Model.Remove(s.Slot);
                break;
            case 1:
                {
                    ulong gfn = RandomPosition(s.Id, s.NPages);
                    uint flags = (s.KvmFlags & 2) | (uint)_rng.Next(2);
                    Assert.Equal(0, _vm.V1(s.Slot, flags, gfn << 12, s.NPages << 12, s.Hva));
                    Model.Put(s with { BaseGfn = gfn, KvmFlags = flags });
                    break;
                }
            default:
                {
                    uint flags = s.KvmFlags ^ 1;
                    Assert.Equal(0, _vm.Region2(s.Slot, flags, s.BaseGfn << 12, s.NPages << 12, s.Hva));
                    Model.Put(s with { KvmFlags = flags });
                    break;
                }
        }
    }

    public void Create()
    {
        uint slot = RandomFreeSlot();
        if (Fds.Length > 0 && _rng.NextDouble() < _privateShare)
        {
            CreatePrivate(slot);
            return;
        }
        ulong npages = RandomPages(_window);
        ulong gfn = RandomPosition((ushort)slot, npages);
        ulong hva = RandomHva(npages);
        uint flags = (uint)_rng.Next(4); // LOG_DIRTY, READONLY
        int rc = _rng.Next(2) == 0 ? _vm.V1(slot, flags, gfn << 12, npages << 12, hva) : _vm.Region2(slot, flags, gfn << 12, npages << 12, hva);
        Assert.Equal(0, rc);
        Model.Put(new ModelSlot(slot, flags, gfn, npages, hva, -1, 0));
    }

    private void CreatePrivate(uint slot)
    {
        int file = _rng.Next(Fds.Length);
        ulong npages = RandomPages(Math.Min(_window, _filePages));
        ulong pgoff = 0;
        bool free = false;
        for (int attempt = 0; attempt < 8 && !free; attempt++)
        {
            pgoff = (ulong)_rng.NextInt64(0, (long)(_filePages - npages) + 1);
            free = Model.FilePagesFree(file, pgoff, npages);
        }
        ulong gfn = RandomPosition((ushort)slot, npages);
        ulong hva = RandomHva(npages);
        int fd = _rng.Next(2) == 0 ? Fds[file] : Dups[file];
        int rc = _vm.Ext(slot, 4, gfn << 12, npages << 12, hva, pgoff << 12, fd);
        if (!free)
        {
            Assert.Equal(E.EINVAL, rc); // the binding rule, asked of the private index
            return;
        }
        Assert.Equal(0, rc);
        Model.Put(new ModelSlot(slot, 4, gfn, npages, hva, file, pgoff));
    }

    /// <summary>
    /// Up to n random shared creates, deletes and moves in one hvrt_set_user_memory_regions call
    /// (one publish); every entry must succeed.
    /// </summary>
    public void Batch(int n, double createBias = 0.5)
    {
        var regions = new List<KvmUserspaceMemoryRegion2>();
        var staged = new Dictionary<uint, ModelSlot?>();
        for (int i = 0; i < n; i++)
        {
            ModelSlot? Current(uint slot) => staged.TryGetValue(slot, out ModelSlot? v) ? v : Model.Slots.GetValueOrDefault(slot);
            if (Model.Slots.Count == 0 || _rng.NextDouble() < createBias)
            {
                uint slot = RandomFreeSlot();
                if (Current(slot) != null)
                {
                    continue;
                }
                ulong npages = RandomPages(_window);
                ulong gfn = RandomPosition((ushort)slot, npages);
                ulong hva = RandomHva(npages);
                uint flags = (uint)_rng.Next(4);
                regions.Add(Ffi.Region(slot, flags, gfn << 12, npages << 12, hva));
                staged[slot] = new ModelSlot(slot, flags, gfn, npages, hva, -1, 0);
            }
            else
            {
                ModelSlot? s = Current(RandomSlot().Slot);
                if (s == null)
                {
                    continue;
                }
                if (s.IsPrivate && _rng.Next(3) != 0)
                {
                    continue; // batches cannot create private slots (region2 needs a guest_memfd): delete fewer
                }
                if (s.IsPrivate || _rng.Next(2) == 0)
                {
                    regions.Add(Ffi.Region(s.Slot, 0, 0, 0, 0));
                    staged[s.Slot] = null;
                }
                else
                {
                    ulong gfn = RandomPosition(s.Id, s.NPages);
                    uint flags = (s.KvmFlags & 2) | (uint)_rng.Next(2);
                    regions.Add(Ffi.Region(s.Slot, flags, gfn << 12, s.NPages << 12, s.Hva));
                    staged[s.Slot] = s with { BaseGfn = gfn, KvmFlags = flags };
                }
            }
        }
        int* results = stackalloc int[Math.Max(1, regions.Count)];
        KvmUserspaceMemoryRegion2[] arr = regions.ToArray();
        int applied;
        fixed (KvmUserspaceMemoryRegion2* p = arr)
        {
            applied = Ffi.SetRegions(_vm.Handle, p, (nuint)arr.Length, results);
        }
        for (int i = 0; i < arr.Length; i++)
        {
            Assert.Equal(0, results[i]);
        }
        Assert.Equal(arr.Length, applied);
        foreach ((uint slot, ModelSlot? now) in staged)
        {
            if (now == null)
            {
                Model.Remove(slot);
            }
            else
            {
                Model.Put(now);
            }
        }
    }
}
