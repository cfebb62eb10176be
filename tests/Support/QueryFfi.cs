using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Tests.Support;

/// <summary>The reverse-query exports, called as C calls them (unmanaged function pointers).</summary>
internal static unsafe class QueryFfi
{
    public static int ByHva(VmHandle* vm, ulong hva, ulong len, HvrtSlotRange* result, nuint cap)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, HvrtSlotRange*, nuint, int> f = &ExportsQuery.FindSlotsByHva;
        return f(vm, hva, len, result, cap);
    }

    public static int ByPrivate(VmHandle* vm, int fd, ulong offset, ulong len, HvrtSlotRange* result, nuint cap)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, int, ulong, ulong, HvrtSlotRange*, nuint, int> f = &ExportsQuery.FindSlotsByPrivate;
        return f(vm, fd, offset, len, result, cap);
    }

    /// <summary>Every pair of an hva query (retrying with a larger array as hvrt.h describes).</summary>
    public static HvrtSlotRange[] AllByHva(VmHandle* vm, ulong hva, ulong len, out int rc)
        => All((p, cap) => ByHva(vm, hva, len, p, cap), out rc);

    public static HvrtSlotRange[] AllByPrivate(VmHandle* vm, int fd, ulong offset, ulong len, out int rc)
        => All((p, cap) => ByPrivate(vm, fd, offset, len, p, cap), out rc);

    /// <summary>open(path, O_RDONLY | O_CLOEXEC): the fd or -1.</summary>
    public static int Open(string path) => open(path, 0x80000);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int open(string path, int flags);

    private delegate int Query(HvrtSlotRange* p, nuint cap);

    private static HvrtSlotRange[] All(Query q, out int rc)
    {
        var buf = new HvrtSlotRange[4];
        while (true)
        {
            fixed (HvrtSlotRange* p = buf)
            {
                rc = q(p, (nuint)buf.Length);
            }
            if (rc < 0)
            {
                return System.Array.Empty<HvrtSlotRange>();
            }
            if (rc <= buf.Length)
            {
                return buf[..rc];
            }
            buf = new HvrtSlotRange[rc];
        }
    }
}
