using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Platform;

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
            return SlotRanges.ByHva(&vm->Read, hva, hva + len, result, cap);
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
            return SlotRanges.ByPrivate(&vm->Read, st.Dev, st.Ino, first, end, result, cap);
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
}
