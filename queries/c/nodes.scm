; C code nodes: function definitions (not prototypes) and named structs, unions and enums with a
; body. Queries cannot recurse, so a function's name is found through up to two pointer
; declarators (char **f(void)); a typedef names the anonymous struct it defines.

(function_definition
  declarator: (function_declarator
    declarator: (identifier) @function.name)) @function.def

(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: (identifier) @function.name))) @function.def

(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (function_declarator
        declarator: (identifier) @function.name)))) @function.def

(struct_specifier
  name: (type_identifier) @struct.name
  body: (field_declaration_list)) @struct.def

(type_definition
  type: (struct_specifier
    !name
    body: (field_declaration_list))
  declarator: (type_identifier) @struct.name) @struct.def

(union_specifier
  name: (type_identifier) @union.name
  body: (field_declaration_list)) @union.def

(enum_specifier
  name: (type_identifier) @enum.name
  body: (enumerator_list)) @enum.def
