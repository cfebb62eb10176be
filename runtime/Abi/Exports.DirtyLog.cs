using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Bits;
using Hvrt.DirtyLog;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>Exports for dirty logging (KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG / KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).</summary>
internal static unsafe class ExportsDirtyLog
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_dirty_log_set_mode", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetMode(VmHandle* vm, uint mode)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).SetDirtyLogMode(mode);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_dirty_log_get", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Get(VmHandle* vm, uint slot, ulong* bitmap)
    {
        try
        {
            // The bitmap is checked after the slot, as KVM's copy_to_user comes last.
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).GetDirtyLog(slot, bitmap);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_dirty_log_get_view", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int GetView(VmHandle* vm, uint slot, ulong** view)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).GetDirtyLogView(slot, view);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_dirty_log_clear", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Clear(VmHandle* vm, uint slot, ulong firstPage, uint numPages, ulong* bitmap)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).ClearDirtyLog(slot, firstPage, numPages, bitmap);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>Lock-free, allocation-free: any thread, concurrently with slot changes and gets.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_mark_dirty", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static long MarkDirty(VmHandle* vm, ulong gpa, ulong len) => MarkDirtyCore(vm, gpa, len);

    /// <summary>The export's body, shared with the managed tests.</summary>
    internal static long MarkDirtyCore(VmHandle* vm, ulong gpa, ulong len)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (len == 0)
        {
            return 0;
        }
        // The range may end exactly at 2^64; past it, it wraps.
        ulong last = gpa + (len - 1);
        if (last < gpa)
        {
            return -Errno.EINVAL;
        }
        DirtyTable? table = Vm.FromHandle(vm).DirtyLogTable;
        return table == null ? 0 : DirtyMarker.Mark(&vm->Read, table, gpa >> 12, (last >> 12) + 1);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_bitmap_next_set", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static ulong BitmapNextSet(ulong* bitmap, ulong nbits, ulong from)
    {
        return bitmap == null || from >= nbits ? nbits : BitKernels.FindNextSet(bitmap, from, nbits);
    }
}
