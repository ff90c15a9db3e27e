/* Context switch for x86_64 System V.
 *
 * void ringo__switch(void **save_sp, void *load_sp)
 *   Saves the callee-saved registers (rbx, rbp, r12-r15), the SSE control
 *   and status word (MXCSR) and the x87 control word - the ABI makes both
 *   control words callee-saved - on the current stack, stores the stack
 *   pointer in *save_sp, then restores the same set from load_sp and
 *   returns into that context. Caller-saved registers need no saving: the
 *   compiler already treats this as an ordinary call.
 *
 * Frame (low to high): [mxcsr|x87cw] r15 r14 r13 r12 rbx rbp ret
 */
    .text
    .globl ringo__switch
    .hidden ringo__switch
    .type ringo__switch, @function
    .p2align 4
ringo__switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    /* pop + jmp instead of ret: the return stack buffer predicts the
     * caller of this call, never the other context, so ret would
     * mispredict on every switch; the indirect branch predictor learns
     * the ping-pong. */
    popq %r8
    jmpq *%r8
    .cfi_endproc
    .size ringo__switch, .-ringo__switch

/* First instruction of every coroutine: ringo__switch "returns" here with
 * r12 = argument and r13 = entry function from the initial frame. The
 * stack is 16-byte aligned at this point, so the call below leaves the
 * callee with the ABI's entry alignment. The entry never returns. */
    .globl ringo__trampoline
    .hidden ringo__trampoline
    .type ringo__trampoline, @function
    .p2align 4
ringo__trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    call *%r13
    ud2
    .cfi_endproc
    .size ringo__trampoline, .-ringo__trampoline

    .section .note.GNU-stack,"",@progbits
