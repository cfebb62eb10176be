using System.Threading;
using Hvrt.DirtyLog;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Memory;
using Hvrt.Slots;

namespace Hvrt.Machine;

/// <summary>
/// Dirty logging, KVM's rules (kvm_main.c: kvm_prepare_memory_region, kvm_get_dirty_log_protect,
/// kvm_clear_dirty_log_protect, kvm_vm_ioctl_enable_cap_generic). The writer side runs under the
/// VM lock; markers (hvrt_mark_dirty) only read <see cref="DirtyLogTable"/>.
/// </summary>
internal sealed unsafe partial class Vm
{
    public const uint DirtyLogManualProtect = 1;
    public const uint DirtyLogInitiallySet = 2;

    private DirtyTable? _dirty;
    private ulong* _dirtyScratch;
    private ulong _dirtyScratchBytes;

    /// <summary>hvrt_dirty_log_set_mode's value (HVRT_DIRTY_LOG_*); hvrt_kvm_bind enables it on KVM too.</summary>
    public uint DirtyLogMode { get; private set; }

    /// <summary>The bitmaps by slot for markers; null until the first logging slot (acquire).</summary>
    public DirtyTable? DirtyLogTable => Volatile.Read(ref _dirty);

    /// <summary>KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): INITIALLY_SET only with MANUAL_PROTECT; KVM first when bound.</summary>
    public int SetDirtyLogMode(uint mode)
    {
        uint allowed = (mode & DirtyLogManualProtect) != 0 ? DirtyLogManualProtect | DirtyLogInitiallySet : DirtyLogManualProtect;
        if ((mode & ~allowed) != 0)
        {
            return -Errno.EINVAL;
        }
        lock (_lock)
        {
            if (BoundKvmFd >= 0 && KvmDirtyLogIoctls.SetMode(BoundKvmFd, mode) is int r and < 0)
            {
                return r;
            }
            DirtyLogMode = mode;
            return 0;
        }
    }

    /// <summary>KVM_GET_DIRTY_LOG: harvest KVM's log when bound, then copy (manual) or fetch-and-clear into output.</summary>
    public int GetDirtyLog(uint slot, ulong* output) => GetDirtyLog(slot, output, null);

    /// <summary>hvrt_dirty_log_get_view: the same checks and harvest, hvrt's array instead of a copy.</summary>
    public int GetDirtyLogView(uint slot, ulong** view) => GetDirtyLog(slot, null, view);

    /// <summary>One of output (a copy) or view (hvrt's array) is asked for; both NULL is -EFAULT after the slot checks.</summary>
    private int GetDirtyLog(uint slot, ulong* output, ulong** view)
    {
        lock (_lock)
        {
            int r = FindDirtyBitmap(slot, out _, out DirtyBitmap* b);
            if (r != 0)
            {
                return r;
            }
            if (output == null && view == null)
            {
                return -Errno.EFAULT;
            }
            // KVM first: if it fails nothing is copied or cleared.
            ulong* fromKvm = null;
            if (BoundKvmFd >= 0 && (r = Harvest(slot, b, out fromKvm)) != 0)
            {
                return r;
            }
            if ((DirtyLogMode & DirtyLogManualProtect) != 0)
            {
                // GET does not clear: KVM's pages join hvrt's bitmap, which CLEAR then clears.
                if (fromKvm != null)
                {
                    DirtyBitmap.Merge(b, fromKvm);
                }
                if (view != null)
                {
                    *view = DirtyBitmap.CopyForView(b);
                }
                else
                {
                    DirtyBitmap.CopyTo(b, output);
                }
            }
            else if (view != null)
            {
                *view = DirtyBitmap.SwapForView(b, fromKvm);
            }
            else
            {
                DirtyBitmap.SwapAndDrain(b, output, fromKvm);
            }
            return 0;
        }
    }

    /// <summary>KVM_CLEAR_DIRTY_LOG, KVM's checks in KVM's order; works with or without manual protection, as KVM's.</summary>
    public int ClearDirtyLog(uint slot, ulong firstPage, uint numPages, ulong* mask)
    {
        lock (_lock)
        {
            if (slot >> 16 >= Rules.NrAddressSpaces || (slot & 0xffff) >= Rules.MaxUserSlots)
            {
                return -Errno.EINVAL;
            }
            if ((firstPage & 63) != 0)
            {
                return -Errno.EINVAL;
            }
            int r = FindDirtyBitmap(slot, out MemSlot? s, out DirtyBitmap* b);
            if (r != 0)
            {
                return r;
            }
            ulong npages = s!.NPages;
            if (firstPage > npages || numPages > npages - firstPage || (numPages < npages - firstPage && (numPages & 63) != 0))
            {
                return -Errno.EINVAL;
            }
            ulong nwords = ((ulong)numPages + 63) >> 6;
            // KVM copies ALIGN(num_pages, 64) / 8 bytes: none for num_pages 0, so NULL is fine then.
            if (nwords != 0 && mask == null)
            {
                return -Errno.EFAULT;
            }
            if (BoundKvmFd >= 0 && (r = KvmDirtyLogIoctls.Clear(BoundKvmFd, slot, firstPage, numPages, mask)) < 0)
            {
                return r;
            }
            DirtyBitmap.ClearMasked(b, firstPage >> 6, mask, nwords);
            return 0;
        }
    }

    /// <summary>-EINVAL as_id or id out of range; -ENOENT no slot or no bitmap (KVM: !memslot || !memslot->dirty_bitmap).</summary>
    private int FindDirtyBitmap(uint slot, out MemSlot? s, out DirtyBitmap* b)
    {
        s = null;
        b = null;
        uint asId = slot >> 16;
        ushort id = (ushort)slot;
        if (asId >= Rules.NrAddressSpaces || id >= Rules.MaxUserSlots)
        {
            return -Errno.EINVAL;
        }
        s = _sets[asId].Get(id);
        b = s == null || _dirty == null ? null : _dirty.Get(asId, id);
        return b == null ? -Errno.ENOENT : 0;
    }

    /// <summary>KVM_GET_DIRTY_LOG of the bound VM into the scratch buffer (<paramref name="words"/>, valid until the next harvest).</summary>
    private int Harvest(uint slot, DirtyBitmap* b, out ulong* words)
    {
        words = null;
        ulong bytes = b->Words << 3;
        if (bytes > _dirtyScratchBytes)
        {
            // Grows to the largest logging slot once; reused by every later harvest.
            var bigger = (ulong*)NativeAlloc.Alloc((nuint)bytes);
            if (bigger == null)
            {
                return -Errno.ENOMEM;
            }
            NativeAlloc.Free(_dirtyScratch, (nuint)_dirtyScratchBytes);
            _dirtyScratch = bigger;
            _dirtyScratchBytes = bytes;
        }
        int r = KvmDirtyLogIoctls.Get(BoundKvmFd, slot, _dirtyScratch);
        if (r < 0)
        {
            return r;
        }
        words = _dirtyScratch;
        return 0;
    }

    // ---- slot lifecycle hooks (kvm_prepare_memory_region): called before the slot changes ----

    /// <summary>A new slot that logs gets a clear bitmap (all set with INITIALLY_SET); -ENOMEM changes nothing.</summary>
    private int DirtyLogOnCreate(uint asId, ushort id, uint flags, ulong npages, ulong hva)
    {
        return (flags & SlotFlags.LogDirtyPages) == 0 ? 0 : InstallDirtyBitmap(asId, id, npages, hva);
    }

    /// <summary>MOVE / FLAGS_ONLY: logging kept keeps the bitmap; turned on allocates one; turned off retires it.</summary>
    private int DirtyLogOnFlags(MemSlot old, uint flags)
    {
        bool was = (old.Flags & SlotFlags.LogDirtyPages) != 0;
        bool now = (flags & SlotFlags.LogDirtyPages) != 0;
        if (was == now)
        {
            return 0;
        }
        if (now)
        {
            return InstallDirtyBitmap(old.AsId, old.Id, old.NPages, old.Hva);
        }
        _dirty?.Set(old.AsId, old.Id, null);
        return 0;
    }

    /// <summary>DELETE: the bitmap is retired (freed after the commit's grace period).</summary>
    private void DirtyLogOnDelete(MemSlot old) => _dirty?.Set(old.AsId, old.Id, null);

    private int InstallDirtyBitmap(uint asId, ushort id, ulong npages, ulong hva)
    {
        DirtyTable table = _dirty ?? new DirtyTable(Rules.NrAddressSpaces, Rules.MaxUserSlots);
        if (!table.EnsureCells())
        {
            return -Errno.ENOMEM;
        }
        // Kept from here even if the bitmap cannot be had: dropping the table would leak its
        // cells (all null, so markers find nothing in it).
        Volatile.Write(ref _dirty, table);
        DirtyBitmap* b = DirtyBitmap.Alloc(npages, hva, (DirtyLogMode & DirtyLogInitiallySet) != 0);
        if (b == null)
        {
            return -Errno.ENOMEM;
        }
        table.Set(asId, id, b);
        return 0;
    }

    /// <summary>After Commit's grace period: no marker can still hold a retired bitmap.</summary>
    private void FreeRetiredDirtyBitmaps() => _dirty?.FreeRetired();

    private void FreeDirtyLog()
    {
        _dirty?.FreeAll();
        NativeAlloc.Free(_dirtyScratch, (nuint)_dirtyScratchBytes);
        _dirtyScratch = null;
        _dirtyScratchBytes = 0;
    }
}
