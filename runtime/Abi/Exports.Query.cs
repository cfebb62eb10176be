using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Platform;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Abi;

/// <summary>
/// The reverse queries (host range → slots): which (slot, gfn range) pairs a range of host
/// memory or of a private file backs, for a VMM that munmaps / MADV_REMOVEs host memory or
/// punches a hole in a private fd. Lock-free and allocation-free like hvrt_translate.
/// </summary>
internal static unsafe class ExportsQuery
{
    private const ulong PageMask = 4095;

    [UnmanagedCallersOnly(EntryPoint = "hvrt_find_slots_by_hva", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int FindSlotsByHva(VmHandle* vm, ulong hva, ulong len, HvrtSlotRange* result, nuint cap)
    {
        try
        {
            int e = CheckArgs(vm, result, cap, hva, len);
            if (e != 0)
            {
                return e;
            }
            if (len == 0)
            {
                return 0;
            }
            var sink = new HvaSink(result, cap, hva, hva + len);
            return Run(vm, ref sink);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_find_slots_by_private", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int FindSlotsByPrivate(VmHandle* vm, int fd, ulong offset, ulong len, HvrtSlotRange* result, nuint cap)
    {
        try
        {
            int e = CheckArgs(vm, result, cap, offset, len);
            if (e != 0)
            {
                return e;
            }
            // The file's identity, as the binding check keys it (a dup or a reopen is the same file).
            if (fd < 0 || Libc.FStat(fd, out Libc.Stat st) < 0)
            {
                return -Errno.EBADF;
            }
            if (len == 0)
            {
                return 0;
            }
            // File pages with any byte in [offset, offset + len); written so that nothing wraps.
            ulong last = offset + len;
            ulong first = offset >> 12, end = (last >> 12) + ((last & PageMask) != 0 ? 1UL : 0UL);
            var sink = new PrivateSink(result, cap, st.Dev, st.Ino, first, end);
            return Run(vm, ref sink);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>vm NULL → -EFAULT, not live → -EBADF, out NULL with cap &gt; 0 → -EFAULT, start + len wrapping → -EINVAL.</summary>
    private static int CheckArgs(VmHandle* vm, HvrtSlotRange* result, nuint cap, ulong start, ulong len)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (result == null && cap > 0)
        {
            return -Errno.EFAULT;
        }
        return len > ulong.MaxValue - start ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// Runs the query over every address space in order (0, then 1) inside one read section, as
    /// <see cref="ExportsSlots.TranslateCore"/> reads: no lock, no allocation (but a thread's very
    /// first read section, which gets its record; -ENOMEM if that fails). The section is left even
    /// if something throws, so a writer's grace period can never hang on this reader.
    /// </summary>
    private static int Run<TSink>(VmHandle* vm, ref TSink sink)
        where TSink : struct, IRangeSink
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        try
        {
            for (uint asId = 0; asId < vm->Read.NrAddressSpaces; asId++)
            {
                Snapshot* s = VmLayout.Load(&vm->Read, asId);
                sink.Query(s);
            }
        }
        finally
        {
            ReadSection.Exit(section);
        }
        return sink.Total;
    }

    /// <summary>HVRT_TR_* of a slot as hvrt_translate reports them (<see cref="Translator.Fill"/>), without PRIVATE.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint TrFlags(uint kvmFlags)
        => ((kvmFlags & 2) != 0 ? HvrtTranslation.FlagReadonly : 0)
         | ((kvmFlags & 1) != 0 ? HvrtTranslation.FlagLogDirty : 0)
         | ((kvmFlags & 4) != 0 ? HvrtTranslation.FlagHasPrivate : 0);

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
                r->Flags = TrFlags(e->KvmFlags);
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

        public void Query(Snapshot* s)
        {
            RangeQuery.ByHva(new TopSeq(&s->Hva), _start, _end, ref this);
        }

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

        public void Query(Snapshot* s)
        {
            RangeQuery.ByPrivate(new TopSeq(&s->Private), _dev, _ino, _first, _end, ref this);
        }

        public void Add(SlotEntry* e)
        {
            ulong pgoff = e->PrivatePgoff;
            _o.Put(e, e->BaseGfn + Math.Max(pgoff, _first) - pgoff, e->BaseGfn + Math.Min(pgoff + e->NPages, _end) - pgoff);
        }
    }
}
