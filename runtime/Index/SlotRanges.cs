using System;
using System.Runtime.CompilerServices;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Index;

/// <summary>
/// The reverse queries as hvrt.h answers them (host range → slots): which (slot, gfn range) pairs a
/// range of host memory or of a private file backs, counted in full and written up to the caller's
/// capacity, for a VMM that munmaps / MADV_REMOVEs host memory or punches a hole in a private fd.
/// Lock-free and allocation-free like the translator.
/// </summary>
internal static unsafe class SlotRanges
{
    private const ulong PageMask = 4095;

    /// <summary>hvrt_find_slots_by_hva after its checks: the (slot, gfn range) pairs whose host pages meet [start, end).</summary>
    public static int ByHva(VmLayout* vm, ulong start, ulong end, HvrtSlotRange* result, nuint cap)
    {
        var sink = new HvaSink(result, cap, start, end);
        return Run(vm, ref sink);
    }

    /// <summary>hvrt_find_slots_by_private after its checks: the pairs bound to pages [first, end) of file (dev, ino).</summary>
    public static int ByPrivate(VmLayout* vm, ulong dev, ulong ino, ulong first, ulong end, HvrtSlotRange* result, nuint cap)
    {
        var sink = new PrivateSink(result, cap, dev, ino, first, end);
        return Run(vm, ref sink);
    }

    /// <summary>
    /// Runs the query over every address space in order (0, then 1) inside one read section, as
    /// <see cref="Translator.Translate"/> reads: no lock, no allocation (but a thread's very
    /// first read section, which gets its record; -ENOMEM if that fails). The section is left even
    /// if something throws, so a writer's grace period can never hang on this reader.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Run<TSink>(VmLayout* vm, ref TSink sink)
        where TSink : struct, IRangeSink
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        try
        {
            for (uint asId = 0; asId < vm->NrAddressSpaces; asId++)
            {
                Snapshot* s = VmLayout.Load(vm, asId);
                sink.Query(s);
            }
        }
        finally
        {
            ReadSection.Exit(section);
        }
        return sink.Total;
    }

    private interface IRangeSink : IEntrySink
    {
        int Total { get; }

        void Query(Snapshot* s);
    }

    /// <summary>Counts every match and writes the first cap of them.</summary>
    private struct Output
    {
        private readonly HvrtSlotRange* _out;
        private readonly nuint _cap;
        private int _total;

        public Output(HvrtSlotRange* result, nuint cap)
        {
            _out = result;
            _cap = cap;
            _total = 0;
        }

        public readonly int Total => _total;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(SlotEntry* e, ulong gfnStart, ulong gfnEnd)
        {
            if ((nuint)_total < _cap)
            {
                HvrtSlotRange* r = _out + _total;
                r->Slot = e->Slot;
                r->Flags = HvrtTranslation.FlagsOf(e->KvmFlags);
                r->GfnStart = gfnStart;
                r->GfnEnd = gfnEnd;
                r->Reserved = 0;
            }
            _total++;
        }
    }

    /// <summary>KVM's kvm_handle_hva_range / hva_to_gfn_memslot: the gfns whose pages meet [start, end).</summary>
    private struct HvaSink : IRangeSink
    {
        private Output _o;
        private readonly ulong _start, _end;

        public HvaSink(HvrtSlotRange* result, nuint cap, ulong start, ulong end)
        {
            _o = new Output(result, cap);
            _start = start;
            _end = end;
        }

        public readonly int Total => _o.Total;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Query(Snapshot* s)
        {
            RangeQuery.ByHva(new TopSeq(&s->Hva), _start, _end, ref this);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(SlotEntry* e)
        {
            ulong hvaStart = Math.Max(_start, e->Hva);
            ulong hvaEnd = Math.Min(_end, e->Hva + (e->NPages << 12));
            _o.Put(e, e->BaseGfn + ((hvaStart - e->Hva) >> 12), e->BaseGfn + ((hvaEnd + PageMask - e->Hva) >> 12));
        }
    }

    /// <summary>kvm_gmem_invalidate_begin: the gfns bound to file pages [first, end).</summary>
    private struct PrivateSink : IRangeSink
    {
        private Output _o;
        private readonly ulong _dev, _ino, _first, _end;

        public PrivateSink(HvrtSlotRange* result, nuint cap, ulong dev, ulong ino, ulong first, ulong end)
        {
            _o = new Output(result, cap);
            _dev = dev;
            _ino = ino;
            _first = first;
            _end = end;
        }

        public readonly int Total => _o.Total;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Query(Snapshot* s)
        {
            RangeQuery.ByPrivate(new TopSeq(&s->Private), _dev, _ino, _first, _end, ref this);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(SlotEntry* e)
        {
            ulong pgoff = e->PrivatePgoff;
            _o.Put(e, e->BaseGfn + Math.Max(pgoff, _first) - pgoff, e->BaseGfn + Math.Min(pgoff + e->NPages, _end) - pgoff);
        }
    }
}
