using System;
using BenchmarkDotNet.Attributes;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Bench;

/// <summary>
/// One slot change in a full VM (32764 slots, KVM's x86 limit): each hvrt call builds and
/// publishes a new snapshot and waits one grace period (no readers run here, so the wait is
/// its fixed cost). Baseline: what a vm-memory style writer pays before its own grace period,
/// copying the sorted slot array and changing one entry.
/// </summary>
[MemoryDiagnoser]
[IterationTime(250)] // 100 ms iterations come out at ~85 ms and BenchmarkDotNet warns
public unsafe class WriterBench
{
    private VmHandle* _vm;
    private GuestSlot[] _slots = Array.Empty<GuestSlot>();
    private GuestSlot[] _copy = Array.Empty<GuestSlot>();
    private GuestSlot _middle;
    private GuestSlot _spare;
    private uint _flags;

    [Params(32764)]
    public int Slots { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _slots = SlotLayout.Build(Slots, seed: 3000 + Slots);
        _copy = new GuestSlot[Slots];
        _middle = _slots[Slots / 2];
        // The VM holds every slot but one, so that creating that one reaches Slots.
        _spare = _slots[Slots / 4];
        var held = new GuestSlot[Slots - 1];
        Array.Copy(_slots, held, Slots / 4);
        Array.Copy(_slots, Slots / 4 + 1, held, Slots / 4, Slots - Slots / 4 - 1);
        _vm = BenchVm.CreateWith(held);
        _flags = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchVm.Destroy(_vm);
        _vm = null;
    }

    /// <summary>Toggles KVM_MEM_LOG_DIRTY_PAGES on the middle slot (KVM's FLAGS_ONLY change).</summary>
    [Benchmark]
    public int FlagsChange()
    {
        _flags ^= 1;
        GuestSlot s = _middle;
        return BenchVm.Set(_vm, s.Id, _flags, s.BaseGfn, s.NPages, s.Hva);
    }

    /// <summary>Creates the missing slot (the VM then holds Slots), then deletes it: per change.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int CreateDelete()
    {
        GuestSlot s = _spare;
        int r = BenchVm.Set(_vm, s.Id, 0, s.BaseGfn, s.NPages, s.Hva);
        return r | BenchVm.Set(_vm, s.Id, 0, s.BaseGfn, 0, s.Hva);
    }

    /// <summary>Moves the middle slot 2 MiB up into its gap, then back: per change.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int Move()
    {
        GuestSlot s = _middle;
        int r = BenchVm.Set(_vm, s.Id, _flags, s.BaseGfn + SlotLayout.SlotPages, s.NPages, s.Hva);
        return r | BenchVm.Set(_vm, s.Id, _flags, s.BaseGfn, s.NPages, s.Hva);
    }

    /// <summary>Baseline: copy the VMM's sorted array and change one entry (no publish, no grace period).</summary>
    [Benchmark(Baseline = true)]
    public uint ArrayCopy()
    {
        Array.Copy(_slots, _copy, _slots.Length);
        _copy[Slots / 2].Flags ^= 1;
        return _copy[Slots / 2].Flags;
    }
}

/// <summary>
/// Filling a VM with 32764 slots (VM start-up, a large DIMM/virtio-mem hotplug): one
/// hvrt_set_user_memory_region call per slot (one publish and grace period each) against one
/// hvrt_set_user_memory_regions call (one publish, one grace period). Slots go in in gfn order.
/// Each invoke creates a VM, fills it and destroys it.
/// </summary>
[MemoryDiagnoser]
public unsafe class WriterBulkBench
{
    private GuestSlot[] _slots = Array.Empty<GuestSlot>();
    private KvmUserspaceMemoryRegion2[] _requests = Array.Empty<KvmUserspaceMemoryRegion2>();

    [Params(32764)]
    public int Slots { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _slots = SlotLayout.Build(Slots, seed: 4000 + Slots);
        _requests = SlotLayout.Requests(_slots);
    }

    [Benchmark(Baseline = true)]
    public void CreateOneByOne()
    {
        VmHandle* vm = BenchVm.Create();
        foreach (GuestSlot s in _slots)
        {
            BenchVm.Check(BenchVm.Set(vm, s.Id, 0, s.BaseGfn, s.NPages, s.Hva), "hvrt_set_user_memory_region");
        }
        BenchVm.Destroy(vm);
    }

    [Benchmark]
    public void CreateBatched()
    {
        VmHandle* vm = BenchVm.Create();
        BenchVm.SetAll(vm, _requests);
        BenchVm.Destroy(vm);
    }
}
